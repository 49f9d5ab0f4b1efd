import Foundation

/// An exact prefix cache: a radix tree over token ids whose nodes hold, for their positions, the
/// keys/values of every layer and the final hidden states (`KeyValueBlock`), and what those hidden
/// states answered so far (a target's log-prob, greedy flag, top-k). A row that starts with cached
/// tokens attends to the cached keys/values instead of recomputing them; a scored position whose
/// (target, k) was answered before is not scored again, and one asked for a new target or a larger k
/// goes through the LM head again from its cached hidden state.
///
/// Exact, not approximate: a position's keys/values and hidden state are one fixed computation of the
/// tokens up to it (every product element one FMA chain, every element-wise op per element), so the
/// cached values are the bits recomputing them would give, and attention over [cached spans; own
/// keys] reduces in the order attention over the whole row does (`causalAttention`).
///
/// Bounded by `budgetBytes`: the blocks' floats, the token ids and the answers' entries are counted
/// exactly as allocated (Swift object and array headers, ~100 bytes a node, are not); when full, the
/// least recently used leaves go first. A budget of 0 keeps nothing. One per model (`Scorer`); used
/// under the scorer's lock, except `statistics`.
public final class PrefixCache: @unchecked Sendable {
    public struct Statistics: Sendable, Equatable {
        public var budgetBytes: Int
        /// Bytes held now.
        public var bytes = 0
        /// Tree nodes held now.
        public var nodes = 0
        /// Token positions a forward pass found cached (each distinct position of a pass once).
        public var hitTokens = 0
        /// Token positions a forward pass computed.
        public var missTokens = 0
        /// Nodes evicted to make room.
        public var evictions = 0
        /// Token positions those nodes held.
        public var evictedTokens = 0

        /// An empty cache's.
        public init(budgetBytes: Int) { self.budgetBytes = budgetBytes }
    }

    public let budgetBytes: Int
    let layers: Int
    let keyValueWidth: Int
    let channels: Int
    let root = Node(tokens: [], block: nil, parent: nil)
    private var all: [ObjectIdentifier: Node] = [:]
    private var clock: UInt64 = 0
    private let statisticsLock = NSLock()
    private var current: Statistics

    public init(budgetBytes: Int, config: ModelConfig) {
        self.budgetBytes = max(0, budgetBytes)
        layers = config.nLayer
        keyValueWidth = config.keyValueWidth
        channels = config.nEmbd
        current = Statistics(budgetBytes: self.budgetBytes)
    }

    public var isEnabled: Bool { budgetBytes > 0 }

    public var statistics: Statistics { statisticsLock.withLock { current } }

    /// Bytes one cached position's keys/values (every layer) and hidden state take.
    public var bytesPerToken: Int { KeyValueBlock.floats(count: 1, layers: layers, keyValueWidth: keyValueWidth, channels: channels) * 4 }

    /// The default budget: 1/8 of the memory (the container's limit when lower), at most 8 GiB.
    public static func defaultBudget(memoryBytes: Int) -> Int { min(8 << 30, memoryBytes / 8) }

    /// One tree node: `tokens` are positions depth..<depth + tokens.count of every path through it.
    final class Node {
        private(set) var tokens: [Int32]
        private(set) var block: KeyValueBlock?
        /// Per position: what its hidden state answered (the prediction of the token after it).
        fileprivate(set) var answers: [[Answer]]
        fileprivate(set) weak var parent: Node?
        fileprivate(set) var children: [Int32: Node] = [:]
        fileprivate var lastUse: UInt64 = 0
        fileprivate var pins = 0
        fileprivate(set) var bytes = 0

        fileprivate init(tokens: [Int32], block: KeyValueBlock?, parent: Node?) {
            self.tokens = tokens
            self.block = block
            self.parent = parent
            answers = Array(repeating: [], count: tokens.count)
            bytes = (block?.bytes ?? 0) + tokens.count * MemoryLayout<Int32>.stride
        }

        var count: Int { tokens.count }

        /// Keeps positions 0..<j here and moves the rest, with the children, to a new child.
        fileprivate func split(at j: Int) -> Node {
            let rest = Node(tokens: Array(tokens[j...]), block: block!.copy(j..<count), parent: self)
            rest.answers = Array(answers[j...])
            rest.children = children
            for child in children.values { child.parent = rest }
            rest.lastUse = lastUse
            rest.bytes += rest.answers.joined().reduce(0) { $0 + $1.bytes }
            block = block!.copy(0..<j)
            tokens.removeSubrange(j...)
            answers.removeSubrange(j...)
            children = [rest.tokens[0]: rest]
            bytes = block!.bytes + tokens.count * MemoryLayout<Int32>.stride + answers.joined().reduce(0) { $0 + $1.bytes }
            return rest
        }
    }

    /// A scored position's answer for `target` with the `topK` best tokens and the `statistics` asked.
    struct Answer {
        let target: Int32
        let topK: Int
        let statistics: PositionStatistics
        let score: TokenScore

        /// It holds everything a request for (target, k, statistics) needs.
        func covers(topK: Int, statistics: PositionStatistics) -> Bool {
            self.topK >= topK && self.statistics.isSuperset(of: statistics)
        }

        var bytes: Int { MemoryLayout<Answer>.stride + score.top.count * MemoryLayout<TopToken>.stride }
    }

    /// A place in the tree: after `offset` tokens of `node` (offset == node.count: at its end).
    struct Cursor {
        let node: Node
        let offset: Int
        var atEnd: Bool { offset == node.count }
    }

    var start: Cursor { Cursor(node: root, offset: 0) }

    // MARK: matching

    /// Follows `tokens` from `cursor` as far as the tree holds them: the pieces (node, positions of
    /// it) in order, and where the match stopped. Marks the nodes used.
    func match(_ tokens: ArraySlice<Int32>, from cursor: Cursor) -> (pieces: [(node: Node, range: Range<Int>)], end: Cursor) {
        var pieces: [(node: Node, range: Range<Int>)] = []
        var node = cursor.node, offset = cursor.offset
        var i = tokens.startIndex
        while i < tokens.endIndex {
            if offset == node.count {
                guard let child = node.children[tokens[i]] else { break }
                node = child
                offset = 0
            }
            let first = offset
            while offset < node.count && i < tokens.endIndex && node.tokens[offset] == tokens[i] {
                offset += 1
                i += 1
            }
            if offset > first {
                pieces.append((node, first..<offset))
                node.lastUse = clock
            }
            if offset < node.count { break }
        }
        return (pieces, Cursor(node: node, offset: offset))
    }

    /// Splits the node where `path`'s match stops inside it, so a node continuing the path can be
    /// attached there. Call before matching the paths of a pass (a split moves positions to a new node).
    func splitWhereDiverging(_ path: ArraySlice<Int32>) {
        guard isEnabled else { return }
        let (pieces, end) = match(path, from: start)
        let matched = pieces.reduce(0) { $0 + $1.range.count }
        guard matched < path.count, end.offset > 0, !end.atEnd else { return }
        let rest = end.node.split(at: end.offset)
        all[ObjectIdentifier(rest)] = rest
        publish()
    }

    /// The keys/values of the path up to `cursor`: each node's block from the root, the last one's
    /// first `offset` positions.
    func spans(upTo cursor: Cursor) -> [AttendedSpan] {
        var spans: [AttendedSpan] = []
        if cursor.offset > 0 { spans.append(.cached(cursor.node.block!, count: cursor.offset)) }
        var node = cursor.node.parent
        while let n = node, let block = n.block {
            spans.append(.cached(block, count: n.count))
            node = n.parent
        }
        return spans.reversed()
    }

    // MARK: pass bookkeeping

    /// Starts a pass: a new time for least-recently-used order.
    func beginPass() { clock += 1 }

    func pin(_ node: Node) { node.pins += 1 }

    /// Ends a pass: unpins `nodes`, evicts down to the budget, counts the pass's hits and misses.
    func endPass(unpinning nodes: [Node], hitTokens: Int, missTokens: Int) {
        for node in nodes { node.pins -= 1 }
        evict(toFit: 0)
        statisticsLock.withLock {
            current.hitTokens += hitTokens
            current.missTokens += missTokens
        }
        publish()
    }

    // MARK: storing

    /// A new node for `tokens` continuing at `parent`'s end, its block still to be written by the
    /// forward pass (its keys/values per layer, then its hidden states). Nil when it cannot fit the
    /// budget even with every unpinned leaf evicted. The node comes pinned.
    func reserveChild(_ tokens: ArraySlice<Int32>, of parent: Node) -> Node? {
        guard isEnabled, parent.children[tokens.first!] == nil else { return nil }
        let needed = KeyValueBlock.floats(count: tokens.count, layers: layers, keyValueWidth: keyValueWidth, channels: channels)
            * MemoryLayout<Float>.stride + tokens.count * MemoryLayout<Int32>.stride
        guard needed <= budgetBytes, evict(toFit: needed) else { return nil }
        let block = KeyValueBlock(count: tokens.count, layers: layers, keyValueWidth: keyValueWidth, channels: channels)
        let node = Node(tokens: Array(tokens), block: block, parent: parent)
        node.lastUse = clock
        node.pins = 1
        parent.children[tokens.first!] = node
        all[ObjectIdentifier(node)] = node
        add(bytes: node.bytes)
        publish()
        return node
    }

    /// The answer position `index` of `node` gave for `target` with at least `topK` best tokens,
    /// cut to `topK` (the top-k list is a prefix of any longer one: the same order, ties by id).
    func answer(_ node: Node, _ index: Int, target: Int32, topK: Int, statistics: PositionStatistics) -> TokenScore? {
        guard let found = node.answers[index].first(where: { $0.target == target && $0.covers(topK: topK, statistics: statistics) })
        else { return nil }
        // Exactly what computing it now would give: the k asked for, and only the statistics asked for.
        var score = TokenScore(token: found.score.token, logprob: found.score.logprob, isGreedy: found.score.isGreedy,
                               top: found.topK == topK ? found.score.top : Array(found.score.top.prefix(topK)))
        if statistics.contains(.entropy) { score.entropy = found.score.entropy }
        if statistics.contains(.rank) { score.rank = found.score.rank }
        return score
    }

    /// Keeps an answer: it replaces one for the same target that it covers (a smaller k, fewer
    /// statistics); one that covers it is kept instead; of two that do not cover each other the newer stays.
    func record(_ node: Node, _ index: Int, target: Int32, topK: Int, statistics: PositionStatistics, score: TokenScore) {
        let answer = Answer(target: target, topK: topK, statistics: statistics, score: score)
        var change = answer.bytes
        if let old = node.answers[index].firstIndex(where: { $0.target == target }) {
            guard !node.answers[index][old].covers(topK: topK, statistics: statistics) else { return }
            change -= node.answers[index][old].bytes
            node.answers[index][old] = answer
        } else {
            node.answers[index].append(answer)
        }
        node.bytes += change
        add(bytes: change)
    }

    // MARK: eviction

    /// Evicts least recently used unpinned leaves until `extra` more bytes fit the budget; false if
    /// they cannot. The tree is scanned once per call that must evict, not once per victim: the
    /// unpinned leaves are sorted by last use, and a parent left childless joins them in order.
    @discardableResult
    private func evict(toFit extra: Int) -> Bool {
        var held = statistics.bytes
        guard held + extra > budgetBytes else { return true }
        var evicted = 0, evictedTokens = 0
        defer {
            statisticsLock.withLock {
                current.evictions += evicted
                current.evictedTokens += evictedTokens
            }
        }
        func isEvictable(_ node: Node) -> Bool { node.children.isEmpty && node.pins == 0 }
        // Most recently used first, so the next victim is the last.
        var candidates = all.values.filter(isEvictable).sorted { $0.lastUse > $1.lastUse }
        while held + extra > budgetBytes {
            guard let victim = candidates.popLast() else { return false }
            victim.parent?.children[victim.tokens[0]] = nil
            all[ObjectIdentifier(victim)] = nil
            add(bytes: -victim.bytes)
            held -= victim.bytes
            evicted += 1
            evictedTokens += victim.count
            // The root is not in `all` and never goes.
            if let parent = victim.parent, all[ObjectIdentifier(parent)] != nil, isEvictable(parent) {
                candidates.insert(parent, at: candidates.firstIndex(lastUsedBefore: parent.lastUse))
            }
        }
        return true
    }

    private func add(bytes: Int) { statisticsLock.withLock { current.bytes += bytes } }

    private func publish() { statisticsLock.withLock { current.nodes = all.count } }
}

private extension Array where Element == PrefixCache.Node {
    /// In an array ordered by last use, most recent first: the first index whose node was last used
    /// before `use` (binary search), where a node last used at `use` goes to keep the order.
    func firstIndex(lastUsedBefore use: UInt64) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if self[middle].lastUse < use { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
