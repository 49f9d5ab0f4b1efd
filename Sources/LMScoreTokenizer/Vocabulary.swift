/// The mergeable tokens in both directions: rank → bytes (decoding, and the final ids of a merge) and
/// bytes → rank (every merge step asks "is this byte string a token, and which?").
///
/// The bytes → rank direction is a hand-made open-addressing hash table over one flat byte buffer
/// rather than a `[[UInt8]: Int32]`: a lookup hashes a slice of the input in place, with no array to
/// allocate for the key, and this lookup is what encoding speed comes down to.
struct Vocabulary: Sendable {
    /// Marks "no such token" in ranks, and an empty slot in the table.
    static let noRank = UInt32.max

    /// Every token's bytes, concatenated in rank order.
    let bytes: [UInt8]
    /// Token `r` is `bytes[starts[r] ..< starts[r + 1]]`; `starts.count == count + 1`.
    let starts: [Int32]
    /// Hash table slots: `fingerprint << 32 | rank`, or `UInt64.max` when empty. Linear probing,
    /// a power-of-two size at least twice the number of tokens (so probes stay short).
    let slots: [UInt64]
    /// The rank of each single byte (byte-level BPE gives all 256 one).
    let byteRanks: [UInt32]

    /// Number of mergeable tokens (ranks `0 ..< count`).
    var count: Int { starts.count - 1 }

    /// `tokens[r]` is the byte string of rank `r`. The caller has checked that the ranks are exactly
    /// `0 ..< tokens.count`, each byte string appears once, and every single byte is among them.
    init(tokens: [[UInt8]]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.reduce(0) { $0 + $1.count })
        var starts: [Int32] = [0]
        starts.reserveCapacity(tokens.count + 1)
        for token in tokens {
            bytes.append(contentsOf: token)
            starts.append(Int32(bytes.count))
        }
        var size = 1024
        while size < 2 * tokens.count { size *= 2 }
        var slots = [UInt64](repeating: .max, count: size)
        var byteRanks = [UInt32](repeating: Vocabulary.noRank, count: 256)
        bytes.withUnsafeBufferPointer { all in
            for (rank, token) in tokens.enumerated() {
                if token.count == 1 { byteRanks[Int(token[0])] = UInt32(rank) }
                let hash = Vocabulary.hash(all.baseAddress! + Int(starts[rank]), token.count)
                var slot = Int(truncatingIfNeeded: hash) & (size - 1)
                while slots[slot] != .max { slot = (slot + 1) & (size - 1) }
                slots[slot] = (hash >> 32) << 32 | UInt64(rank)
            }
        }
        self.bytes = bytes
        self.starts = starts
        self.slots = slots
        self.byteRanks = byteRanks
    }

    /// The bytes of token `rank`, which must be in `0 ..< count`.
    func tokenBytes(_ rank: Int) -> ArraySlice<UInt8> {
        bytes[Int(starts[rank]) ..< Int(starts[rank + 1])]
    }

    /// Runs `body` with raw pointers into the tables, so the encoding loops pay for no bounds checks
    /// or reference counting. The view must not escape `body`.
    func withView<Result>(_ body: (View) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBufferPointer { bytes in
            try starts.withUnsafeBufferPointer { starts in
                try slots.withUnsafeBufferPointer { slots in
                    try byteRanks.withUnsafeBufferPointer { byteRanks in
                        try body(View(bytes: bytes.baseAddress!, starts: starts.baseAddress!,
                                      slots: slots.baseAddress!, mask: slots.count - 1,
                                      byteRanks: byteRanks.baseAddress!))
                    }
                }
            }
        }
    }

    /// The tables as raw pointers, valid only inside `withView`.
    struct View {
        let bytes: UnsafePointer<UInt8>
        let starts: UnsafePointer<Int32>
        let slots: UnsafePointer<UInt64>
        let mask: Int
        let byteRanks: UnsafePointer<UInt32>

        /// The rank of the byte string `key[0 ..< count]`, or `noRank` if it is not a token.
        @inline(__always)
        func rank(of key: UnsafePointer<UInt8>, count: Int) -> UInt32 {
            if count == 1 { return byteRanks[Int(key[0])] }
            let hash = Vocabulary.hash(key, count)
            let fingerprint = hash >> 32
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let entry = slots[slot]
                if entry == .max { return Vocabulary.noRank }
                if entry >> 32 == fingerprint {
                    let rank = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF)
                    let start = Int(starts[rank])
                    if Int(starts[rank + 1]) - start == count && Vocabulary.equal(bytes + start, key, count) {
                        return UInt32(rank)
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// `a[0 ..< count] == b[0 ..< count]`, inlined: keys are short, and calling `memcmp` for them
    /// took a sixth of the encoding time.
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
        var i = 0
        while i + 8 <= count {
            if rawA.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rawB.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// A fast 64-bit hash of `count` bytes (multiply-mix over 8-byte words, the last word overlapping
    /// the previous one, then a murmur3 finalizer). Not for adversaries: the table's keys are fixed.
    @inline(__always)
    static func hash(_ key: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        let raw = UnsafeRawPointer(key)
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h = UInt64(truncatingIfNeeded: count) &* k
        if count >= 8 {
            var i = 0
            while i + 8 < count {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* k
                h ^= h >> 29
                i += 8
            }
            h = (h ^ raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)) &* k
        } else {
            var word: UInt64 = 0
            for i in 0 ..< count { word |= UInt64(key[i]) << (8 * UInt64(i)) }
            h = (h ^ word) &* k
        }
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h = h &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }
}
