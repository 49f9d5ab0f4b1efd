extension HFTokenizer: TextTokenizer {
    /// The ids of `text` and where each starts in it (UTF-8 bytes), as HF's
    /// `encode(text, add_special_tokens=False)`: added tokens found in the raw text, each stretch between
    /// them normalized, cut again at normalized added tokens, pre-tokenized, and each piece run through
    /// BPE. `allowSpecial: false` matches only the added tokens that are not `special`, so a user's text
    /// cannot smuggle in `<|endoftext|>` or `<s>`.
    public func encodeWithByteOffsets(_ text: String, allowSpecial: Bool) -> (ids: [Int32], byteOffsets: [Int]) {
        var ids: [Int32] = [], offsets: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        offsets.reserveCapacity(text.utf8.count / 3 + 4)
        func emit(_ id: Int32, _ origin: Int) {
            ids.append(id)
            offsets.append(origin)
        }
        let whole = TextPiece(text.unicodeScalars[...], startingAt: 0)
        let raw = addedTokens.matcher(normalized: false, allowSpecial: allowSpecial)
        let normalizedMatcher = addedTokens.matcher(normalized: true, allowSpecial: allowSpecial)
        for segment in addedTokens.split(whole, raw) {
            switch segment {
            case .token(let id, let origin):
                emit(id, origin)
            case .text(let raw):
                let normalized = normalizer?.normalize(raw) ?? raw
                guard !normalized.isEmpty else { continue }
                for inner in addedTokens.split(normalized, normalizedMatcher) {
                    switch inner {
                    case .token(let id, let origin):
                        emit(id, origin)
                    case .text(let piece):
                        let pieces = preTokenizer?.split([piece]) ?? [piece]
                        for piece in pieces where !piece.isEmpty { model.tokenize(piece, emit: emit) }
                    }
                }
            }
        }
        return (ids, offsets)
    }

    public func encode(_ text: String, allowSpecial: Bool) -> [Int32] {
        encodeWithByteOffsets(text, allowSpecial: allowSpecial).ids
    }
}
