/// Byte-level BPE on one piece, exactly as tiktoken's `byte_pair_encode`: start from single bytes and
/// repeatedly merge the adjacent pair whose concatenated bytes have the lowest rank (the leftmost such
/// pair on a tie) until no adjacent pair is a token. Ranks are looked up for the concatenated bytes,
/// not for a (left, right) pair list — that is what tiktoken does, and for a few pieces it matters.
///
/// Two implementations with identical results: tiktoken's own O(n·m) scan of a parts array, fastest
/// for the short pieces that are nearly all of real text, and a heap for long pieces (a run of
/// thousands of letters or symbols with no space), where the scan would be quadratic.
final class BytePairMerger {
    /// Pieces longer than this many bytes go to the heap.
    static let heapThreshold = 128

    /// Scratch memory for one piece, grown as needed and reused by the next pieces of the same
    /// encode call (a merger belongs to one call, so nothing here is shared between threads).
    private var capacity = 0
    private var starts: UnsafeMutablePointer<Int> = .allocate(capacity: 0)
    private var ranks: UnsafeMutablePointer<UInt32> = .allocate(capacity: 0)
    private var next: UnsafeMutablePointer<Int> = .allocate(capacity: 0)
    private var prev: UnsafeMutablePointer<Int> = .allocate(capacity: 0)
    private var heap = MinHeap()

    deinit {
        starts.deallocate()
        ranks.deallocate()
        next.deallocate()
        prev.deallocate()
    }

    private func reserve(_ count: Int) {
        guard count > capacity else { return }
        capacity = max(count, 2 * capacity, 64)
        for pointer in [starts, next, prev] { pointer.deallocate() }
        ranks.deallocate()
        starts = .allocate(capacity: capacity)
        next = .allocate(capacity: capacity)
        prev = .allocate(capacity: capacity)
        ranks = .allocate(capacity: capacity)
    }

    /// Merges `piece[0 ..< count]` (count ≥ 2) and calls `emit(rank, offset)` for each resulting token,
    /// in order, with the token's byte offset inside the piece.
    @inline(__always)
    func merge(_ piece: UnsafePointer<UInt8>, count: Int, _ vocabulary: Vocabulary.View,
               emit: (UInt32, Int) -> Void) {
        reserve(count + 1)
        if count <= BytePairMerger.heapThreshold {
            scanMerge(piece, count: count, vocabulary, emit: emit)
        } else {
            heapMerge(piece, count: count, vocabulary, emit: emit)
        }
    }

    /// tiktoken's `_byte_pair_merge`: `starts[k]` is where part k begins, `ranks[k]` the rank of part k
    /// joined with part k + 1 (computed as the bytes from `starts[k]` to `starts[k + 2]`).
    private func scanMerge(_ piece: UnsafePointer<UInt8>, count n: Int, _ vocabulary: Vocabulary.View,
                           emit: (UInt32, Int) -> Void) {
        let noRank = Vocabulary.noRank
        let starts = self.starts, ranks = self.ranks
        var minRank = noRank
        var minIndex = 0
        for k in 0 ..< n - 1 {
            starts[k] = k
            let rank = vocabulary.rank(of: piece + k, count: 2)
            ranks[k] = rank
            if rank < minRank { minRank = rank; minIndex = k }
        }
        starts[n - 1] = n - 1
        ranks[n - 1] = noRank
        starts[n] = n
        ranks[n] = noRank
        var parts = n + 1

        // The rank of part k joined with the part after next (part k + 1 is about to be removed).
        @inline(__always) func rankAfterRemoval(_ k: Int) -> UInt32 {
            guard k + 3 < parts else { return noRank }
            return vocabulary.rank(of: piece + starts[k], count: starts[k + 3] - starts[k])
        }
        while minRank != noRank {
            let i = minIndex
            if i > 0 { ranks[i - 1] = rankAfterRemoval(i - 1) }
            ranks[i] = rankAfterRemoval(i)
            (starts + i + 1).update(from: starts + i + 2, count: parts - i - 2)
            (ranks + i + 1).update(from: ranks + i + 2, count: parts - i - 2)
            parts -= 1
            minRank = noRank
            for k in 0 ..< parts - 1 where ranks[k] < minRank {
                minRank = ranks[k]
                minIndex = k
            }
        }
        for k in 0 ..< parts - 1 {
            emit(vocabulary.rank(of: piece + starts[k], count: starts[k + 1] - starts[k]), starts[k])
        }
    }

    /// The same merges in O(n log n): parts as a linked list over byte offsets, candidate pairs in a
    /// min-heap keyed `rank << 32 | start`, so the smallest rank and then the leftmost start comes out
    /// first — the pair the scan would pick. An entry is stale once its pair changed: a pair's rank
    /// names its bytes, and a changed pair spans other bytes, so `pairRank[start] != rank` spots it.
    private func heapMerge(_ piece: UnsafePointer<UInt8>, count n: Int, _ vocabulary: Vocabulary.View,
                           emit: (UInt32, Int) -> Void) {
        let noRank = Vocabulary.noRank
        let next = self.next, prev = self.prev, pairRank = self.ranks
        heap.removeAll()
        for k in 0 ..< n {
            next[k] = k + 1
            prev[k] = k - 1
            pairRank[k] = k + 1 < n ? vocabulary.rank(of: piece + k, count: 2) : noRank
            if pairRank[k] != noRank { heap.append(UInt64(pairRank[k]) << 32 | UInt64(k)) }
        }
        heap.heapify()
        // Rank of part `k` joined with the part after it, if there is one.
        @inline(__always) func pairRankAt(_ k: Int) -> UInt32 {
            let after = next[k]
            guard after < n else { return noRank }
            return vocabulary.rank(of: piece + k, count: next[after] - k)
        }
        while let top = heap.pop() {
            let rank = UInt32(top >> 32)
            let k = Int(top & 0xFFFF_FFFF)
            guard pairRank[k] == rank else { continue }  // stale
            let removed = next[k]
            next[k] = next[removed]
            if next[k] < n { prev[next[k]] = k }
            pairRank[removed] = noRank
            pairRank[k] = pairRankAt(k)
            if pairRank[k] != noRank { heap.push(UInt64(pairRank[k]) << 32 | UInt64(k)) }
            if k > 0 {
                let before = prev[k]
                pairRank[before] = pairRankAt(before)
                if pairRank[before] != noRank { heap.push(UInt64(pairRank[before]) << 32 | UInt64(before)) }
            }
        }
        var k = 0
        while k < n {
            emit(vocabulary.rank(of: piece + k, count: next[k] - k), k)
            k = next[k]
        }
    }
}

/// A binary min-heap of `UInt64` (also the merge queue of `BPEModel`).
struct MinHeap {
    private var storage: [UInt64] = []

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    /// Adds without ordering; call `heapify` before the first `push` or `pop`.
    mutating func append(_ value: UInt64) { storage.append(value) }

    mutating func heapify() {
        var i = storage.count / 2 - 1
        while i >= 0 { siftDown(i); i -= 1 }
    }

    mutating func push(_ value: UInt64) {
        storage.append(value)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if storage[parent] <= storage[child] { break }
            storage.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = storage.popLast() else { return nil }
        guard !storage.isEmpty else { return last }
        let top = storage[0]
        storage[0] = last
        siftDown(0)
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            var smallest = parent
            let left = 2 * parent + 1, right = left + 1
            if left < storage.count && storage[left] < storage[smallest] { smallest = left }
            if right < storage.count && storage[right] < storage[smallest] { smallest = right }
            if smallest == parent { return }
            storage.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
