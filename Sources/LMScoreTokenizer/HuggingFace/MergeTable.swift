/// A BPE model's merges: the pair of token ids `(left, right)` → `rank << 32 | merged id`. Open
/// addressing with a multiplicative hash: every adjacent pair of every pre-token is looked up here, and
/// Swift's `Dictionary` (SipHash) was the largest single cost of encoding in `perf`.
struct MergeTable: Sendable {
    /// Empty slots hold `emptyKey` (ids are below 2^24, so no real pair has it).
    private static let emptyKey = UInt64.max
    private let keys: [UInt64]    // [slots]: left << 32 | right
    private let values: [UInt64]  // [slots]
    private let shift: UInt64

    init(_ merges: [UInt64: UInt64]) {
        var bits: UInt64 = 4
        while (1 << bits) < 2 * max(merges.count, 1) { bits += 1 }
        let size = 1 << Int(bits)
        var keys = [UInt64](repeating: MergeTable.emptyKey, count: size)
        var values = [UInt64](repeating: 0, count: size)
        shift = 64 - bits
        for (key, value) in merges {
            var slot = MergeTable.slot(key, shift)
            while keys[slot] != MergeTable.emptyKey { slot = (slot + 1) & (size - 1) }
            keys[slot] = key
            values[slot] = value
        }
        self.keys = keys
        self.values = values
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// `rank << 32 | merged id` for the pair, nil if the pair does not merge.
    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> UInt64? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var slot = MergeTable.slot(key, shift)
        let mask = keys.count - 1
        while true {
            let found = keys[slot]
            if found == key { return values[slot] }
            if found == MergeTable.emptyKey { return nil }
            slot = (slot + 1) & mask
        }
    }
}
