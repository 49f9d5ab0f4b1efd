extension GPT2Tokenizer {
    /// The bytes of one token, or nil if `id` is not a token of this vocabulary. A token's bytes need
    /// not be valid UTF-8 on their own: GPT-2 splits many characters (emoji, CJK) across tokens.
    public func tokenBytes(_ id: Int32) -> [UInt8]? {
        if id == GPT2Tokenizer.endOfText { return GPT2Tokenizer.endOfTextUTF8 }
        guard id >= 0 && Int(id) < vocabulary.count else { return nil }
        return Array(vocabulary.tokenBytes(Int(id)))
    }

    /// The tokens' bytes, concatenated (tiktoken `decode_bytes`). Throws `unknownTokenID` for an id
    /// outside the vocabulary, naming its position.
    public func decodeBytes(_ ids: [Int32]) throws(TokenizerError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for (position, id) in ids.enumerated() {
            if id == GPT2Tokenizer.endOfText {
                bytes.append(contentsOf: GPT2Tokenizer.endOfTextUTF8)
            } else if id >= 0 && Int(id) < vocabulary.count {
                bytes.append(contentsOf: vocabulary.tokenBytes(Int(id)))
            } else {
                throw .unknownTokenID(id, position: position)
            }
        }
        return bytes
    }

    /// The text of the tokens (tiktoken `decode`): their bytes as UTF-8, each maximal invalid sequence
    /// replaced by U+FFFD, as Python's `bytes.decode("utf-8", errors="replace")` does. So a list that ends
    /// in the middle of a character ends in U+FFFD.
    public func decode(_ ids: [Int32]) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    /// The text of the tokens and, for each token, the offset in that text — in Unicode code points,
    /// not bytes or `Character`s — where the token starts: tiktoken's `decode_with_offsets`. A token
    /// whose first byte continues a character begun by an earlier token gets that character's offset.
    ///
    /// Like tiktoken, which decodes strictly here, throws `invalidUTF8` (naming the token where the bad
    /// bytes start) if the bytes are not valid UTF-8 — e.g. a list that ends inside a character — and
    /// `unknownTokenID` for an id outside the vocabulary.
    public func decodeWithOffsets(_ ids: [Int32]) throws(TokenizerError) -> (text: String, offsets: [Int]) {
        let bytes = try decodeBytes(ids)
        var offsets: [Int] = []
        offsets.reserveCapacity(ids.count)
        var tokenStarts: [Int] = []  // byte offset of each token in `bytes`
        tokenStarts.reserveCapacity(ids.count)
        var characters = 0  // code points begun so far: bytes that are not continuation bytes
        var byteOffset = 0
        for id in ids {
            let token = tokenBytes(id)!
            tokenStarts.append(byteOffset)
            let continues = token.first.map { $0 & 0xC0 == 0x80 } ?? false
            offsets.append(max(0, characters - (continues ? 1 : 0)))
            for byte in token where byte & 0xC0 != 0x80 { characters += 1 }
            byteOffset += token.count
        }
        if let bad = UTF8Validation.firstInvalidByte(in: bytes) {
            // the last token that starts at or before the bad byte
            var low = 0, high = tokenStarts.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if tokenStarts[middle] <= bad { low = middle } else { high = middle - 1 }
            }
            throw .invalidUTF8(position: low)
        }
        return (String(decoding: bytes, as: UTF8.self), offsets)
    }
}

/// Strict UTF-8 checking (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), to say
/// where a byte sequence stops being UTF-8.
enum UTF8Validation {
    /// The offset of the first byte that does not belong to a well-formed character, or nil.
    static func firstInvalidByte(in bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 { i += 1; continue }
            let length: Int
            var secondLow: UInt8 = 0x80, secondHigh: UInt8 = 0xBF
            switch lead {
            case 0xC2 ... 0xDF: length = 2
            case 0xE0: length = 3; secondLow = 0xA0
            case 0xE1 ... 0xEC, 0xEE ... 0xEF: length = 3
            case 0xED: length = 3; secondHigh = 0x9F
            case 0xF0: length = 4; secondLow = 0x90
            case 0xF1 ... 0xF3: length = 4
            case 0xF4: length = 4; secondHigh = 0x8F
            default: return i
            }
            guard i + 1 < n, (secondLow ... secondHigh).contains(bytes[i + 1]) else { return i }
            for k in 2 ..< length {
                guard i + k < n, bytes[i + k] & 0xC0 == 0x80 else { return i }
            }
            i += length
        }
        return nil
    }
}
