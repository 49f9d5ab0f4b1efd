/// The `model` of a `tokenizer.json` (`"type": "BPE"`): each pre-token's characters are looked up in the
/// vocabulary, then adjacent pairs are merged in the order of the `merges` list — lowest merge rank
/// first, leftmost on a tie — exactly as `Word::merge_all` in HF `tokenizers`. Unlike tiktoken, the
/// order comes from the merges list, not from the merged token's id.
struct BPEModel: Sendable {
    /// Token bytes ↔ id (the vocabulary is keyed by bytes: NFC and NFD spellings are different tokens).
    /// Ids missing from the file's `vocab` are empty byte strings here, never looked up.
    let vocabulary: Vocabulary
    let merges: MergeTable
    let unknown: Int32?
    let fuseUnknown: Bool
    /// SentencePiece's byte fallback: a character not in the vocabulary becomes its bytes' `<0xNN>` tokens.
    let byteFallback: Bool
    /// `byteTokens[b]`: the id of `<0xNN>` for byte b, or -1.
    let byteTokens: [Int32]
    /// Llama 3: a pre-token that is a token is taken whole, whatever the merges would make of it.
    let ignoreMerges: Bool

    init(_ json: TokenizerJSON) throws(TokenizerError) {
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = try json.optionalString(key), !value.isEmpty { throw json.unsupported(key, value) }
        }
        if let dropout = json.value("dropout"), case .number(let p) = dropout, p != 0 { throw json.unsupported("dropout", "\(p)") }
        guard case .object(let vocab)? = json.value("vocab") else { throw json.invalid("vocab", "expected an object of token → id") }
        var tokens: [[UInt8]] = []
        var seen = Set<Int>()
        tokens.reserveCapacity(vocab.count)
        for member in vocab {
            let token = member.key
            guard let id = member.value.intValue, id >= 0, id < 1 << 24 else {
                throw json.invalid("vocab[\(token)]", "expected an id in 0 ..< 16777216")
            }
            guard seen.insert(id).inserted else { throw json.invalid("vocab[\(token)]", "id \(id) is given to two tokens") }
            if tokens.count <= id { tokens.append(contentsOf: repeatElement([], count: id + 1 - tokens.count)) }
            tokens[id] = Array(token.utf8)
        }
        let vocabulary = Vocabulary(tokens: tokens)
        self.vocabulary = vocabulary
        func id(of token: String) -> Int32? { BPEModel.id(of: token, in: vocabulary) }

        guard let mergeList = json.value("merges")?.arrayValue else { throw json.invalid("merges", "expected an array") }
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, item) in mergeList.enumerated() {
            let pair: [String]
            if let line = item.stringValue {
                // Cut at the space byte: a Character split would keep " \u{301}" (space + combining mark) whole.
                pair = line.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            } else if let items = item.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
                pair = items.map { $0.stringValue! }
            } else {
                throw json.invalid("merges[\(rank)]", "expected \"a b\" or [\"a\", \"b\"]")
            }
            guard pair.count == 2 else { throw json.invalid("merges[\(rank)]", "expected exactly two tokens") }
            guard let left = id(of: pair[0]), let right = id(of: pair[1]) else {
                throw json.invalid("merges[\(rank)]", "\(pair) names a token that is not in the vocabulary")
            }
            guard let merged = id(of: pair[0] + pair[1]) else {
                throw json.invalid("merges[\(rank)]", "the merge of \(pair) is not in the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            // A pair listed twice keeps its last rank, as HF's map collected from the list does.
            merges[key] = UInt64(rank) << 32 | UInt64(UInt32(merged))
        }
        self.merges = MergeTable(merges)

        if let name = try json.optionalString("unk_token") {
            guard let unknown = id(of: name) else { throw json.invalid("unk_token", "\(name) is not in the vocabulary") }
            self.unknown = unknown
        } else {
            unknown = nil
        }
        fuseUnknown = try json.bool("fuse_unk", default: false)
        byteFallback = try json.bool("byte_fallback", default: false)
        ignoreMerges = try json.bool("ignore_merges", default: false)
        byteTokens = (0 ..< 256).map { byte in id(of: BPEModel.byteTokenName(UInt8(byte))) ?? -1 }
    }

    /// `<0x0A>`: Rust's `format!("<{:#04X}>", b)`.
    static func byteTokenName(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    var vocabularyCount: Int { vocabulary.count }

    /// The id of a token as the file spells it, nil if the vocabulary does not have it.
    func id(of token: String) -> Int32? { BPEModel.id(of: token, in: vocabulary) }

    static func id(of token: String, in vocabulary: Vocabulary) -> Int32? {
        let bytes = Array(token.utf8)
        guard !bytes.isEmpty else { return nil }
        let rank = vocabulary.withView { view in bytes.withUnsafeBufferPointer { view.rank(of: $0.baseAddress!, count: $0.count) } }
        return rank == Vocabulary.noRank ? nil : Int32(rank)
    }

    /// The token's text as the file spells it (byte-level characters, `▁`, `<0x0A>`), or nil for an
    /// id the vocabulary does not have.
    func token(_ id: Int32) -> [UInt8]? {
        guard id >= 0, Int(id) < vocabulary.count else { return nil }
        let bytes = vocabulary.tokenBytes(Int(id))
        return bytes.isEmpty ? nil : Array(bytes)
    }

    /// Calls `emit(id, origin)` for each token of one pre-token, in order; `origin` is the original
    /// text's byte offset of the token's first character.
    func tokenize(_ piece: TextPiece, emit: (Int32, Int) -> Void) {
        var bytes = piece.utf8
        bytes.withUnsafeMutableBufferPointer { text in
            vocabulary.withView { view in
                let base = text.baseAddress!
                if ignoreMerges {
                    let whole = view.rank(of: base, count: text.count)
                    if whole != Vocabulary.noRank {
                        emit(Int32(whole), piece.origins[0])
                        return
                    }
                }
                // The initial symbols: one per character, or its `<0xNN>` tokens, or unknown.
                var ids: [Int32] = []       // [symbols]
                var origins: [Int] = []     // [symbols]
                ids.reserveCapacity(piece.count)
                origins.reserveCapacity(piece.count)
                var pendingUnknown: Int? = nil  // origin of an unknown run not yet added (HF's `unk`)
                var at = 0
                for (scalar, origin) in zip(piece.scalars, piece.origins) {
                    let width = UTF8.width(scalar)
                    defer { at += width }
                    let id = view.rank(of: base + at, count: width)
                    if id != Vocabulary.noRank {
                        if let unknownOrigin = pendingUnknown, let unknown {
                            ids.append(unknown); origins.append(unknownOrigin)
                            pendingUnknown = nil
                        }
                        ids.append(Int32(id)); origins.append(origin)
                        continue
                    }
                    if byteFallback {
                        let fallback = (0 ..< width).map { byteTokens[Int(base[at + $0])] }
                        if !fallback.contains(-1) {
                            // HF adds these without first adding a pending unknown; so do we.
                            for id in fallback { ids.append(id); origins.append(origin) }
                            continue
                        }
                    }
                    // No unk_token: HF drops the character, and so must we to give its ids.
                    guard let unknown else { continue }
                    if let unknownOrigin = pendingUnknown {
                        if !fuseUnknown {
                            ids.append(unknown); origins.append(unknownOrigin)
                            pendingUnknown = origin
                        }
                    } else {
                        pendingUnknown = origin
                    }
                }
                if let unknownOrigin = pendingUnknown, let unknown { ids.append(unknown); origins.append(unknownOrigin) }
                merge(&ids, &origins)
                for (id, origin) in zip(ids, origins) where id >= 0 { emit(id, origin) }
            }
        }
    }

    /// The lowest-rank adjacent pair, leftmost on a tie, merged until none merges: the order the heap
    /// below pops them in, found by a scan.
    private func scanMerge(_ ids: inout [Int32], _ origins: inout [Int]) {
        while ids.count > 1 {
            var best = UInt64.max, at = -1
            for i in 0 ..< ids.count - 1 {
                if let merge = merges.merge(ids[i], ids[i + 1]), merge < best {
                    best = merge
                    at = i
                }
            }
            guard at >= 0 else { return }
            ids[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            ids.remove(at: at + 1)
            origins.remove(at: at + 1)
        }
    }

    /// Pieces of at most this many symbols are merged by rescanning them (no heap to build): nearly all
    /// pre-tokens of byte-level tokenizers.
    static let scanLimit = 24

    /// Merges in place; merged-away symbols are left as -1 (or removed, for short pieces).
    private func merge(_ ids: inout [Int32], _ origins: inout [Int]) {
        let n = ids.count
        guard n > 1 else { return }
        if n <= BPEModel.scanLimit { return scanMerge(&ids, &origins) }
        var next = Array(1 ... n)         // [symbols]; n = none
        var previous = Array(-1 ..< n - 1) // [symbols]; -1 = none
        var queue = MinHeap()               // rank << 32 | position
        @inline(__always) func pairRank(_ left: Int32, _ right: Int32) -> UInt64? { merges.merge(left, right) }
        for i in 0 ..< n - 1 {
            if let merge = pairRank(ids[i], ids[i + 1]) { queue.append(merge & 0xFFFF_FFFF_0000_0000 | UInt64(i)) }
        }
        queue.heapify()
        while let top = queue.pop() {
            let position = Int(top & 0xFFFF_FFFF), rank = top >> 32
            guard ids[position] >= 0, next[position] < n else { continue }
            let right = next[position]
            // Still the same pair? (either side may have merged since this entry was queued)
            guard let merge = pairRank(ids[position], ids[right]), merge >> 32 == rank else { continue }
            ids[position] = Int32(truncatingIfNeeded: merge & 0xFFFF_FFFF)
            ids[right] = -1
            next[position] = next[right]
            if next[right] < n { previous[next[right]] = position }
            if previous[position] >= 0, let left = pairRank(ids[previous[position]], ids[position]) {
                queue.push(left & 0xFFFF_FFFF_0000_0000 | UInt64(previous[position]))
            }
            if next[position] < n, let after = pairRank(ids[position], ids[next[position]]) {
                queue.push(after & 0xFFFF_FFFF_0000_0000 | UInt64(position))
            }
        }
    }
}
