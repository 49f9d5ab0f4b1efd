/// Which scorer call a queued request belongs to: a model, or a model compared with a reference.
/// Requests of one key can share a batch; requests of different keys cannot.
public struct ModelKey: Hashable, Sendable, CustomStringConvertible {
    public let model: String
    public let reference: String?

    public init(model: String, reference: String? = nil) {
        self.model = model
        self.reference = reference
    }

    public var description: String { reference.map { "\(model) vs \($0)" } ?? model }
}

/// The scheduler's queue: one FIFO per `ModelKey`, served round-robin — the next batch comes from
/// the first key after the last one served that has requests waiting — so a model with a long queue
/// takes every other batch at most while another model has requests waiting: neither starves.
struct ModelQueues<Element> {
    private var queues: [ModelKey: [Element]] = [:]
    /// Keys in the order they first queued; the rotation's order (at most models × (models + 1) keys).
    private var order: [ModelKey] = []
    private var lastServed: ModelKey?

    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element, key: ModelKey) {
        if queues[key] == nil { order.append(key) }
        queues[key, default: []].append(element)
        count += 1
    }

    /// Removes and returns the first element matching `predicate`, in any queue.
    mutating func remove(where predicate: (Element) -> Bool) -> Element? {
        for key in order {
            if let index = queues[key]?.firstIndex(where: predicate) {
                count -= 1
                return queues[key]!.remove(at: index)
            }
        }
        return nil
    }

    mutating func removeAll() -> [Element] {
        let all = order.flatMap { queues[$0] ?? [] }
        for key in order { queues[key] = [] }
        count = 0
        return all
    }

    /// The keys with requests waiting, in the order the next batches take them.
    var rotation: [ModelKey] {
        let start = lastServed.flatMap { order.firstIndex(of: $0) }.map { $0 + 1 } ?? 0
        return (order[start...] + order[..<start]).filter { !(queues[$0]?.isEmpty ?? true) }
    }

    /// The next batch: from the first key of `rotation`, elements from the front of its queue while
    /// `take` accepts them (`take` returns false to stop, leaving that element queued; it may consume
    /// an element without batching it, e.g. a timed-out request, by returning true and not keeping it).
    /// Keys whose elements were all consumed unbatched are skipped for the next key. Returns the key
    /// served, or nil when nothing was taken.
    mutating func takeBatch(_ take: (Element) -> (accept: Bool, batched: Bool)) -> ModelKey? {
        for key in rotation {
            var batched = false
            while let first = queues[key]?.first {
                let decision = take(first)
                guard decision.accept else { break }
                queues[key]!.removeFirst()
                count -= 1
                batched = batched || decision.batched
            }
            if batched {
                lastServed = key
                return key
            }
        }
        return nil
    }
}
