extension GPT2Tokenizer {
    /// The token ids of `text`.
    ///
    /// - Parameter allowSpecial: `true`: each literal `<|endoftext|>` in the text becomes id 50256 and the
    ///   text between is encoded on its own (tiktoken `encode(text, allowed_special="all")`). `false`: the
    ///   special token's text is ordinary text (tiktoken `encode_ordinary(text)`) — the safe choice for
    ///   text from users.
    public func encode(_ text: String, allowSpecial: Bool) -> [Int32] {
        var ids: [Int32] = []
        var text = text
        text.withUTF8 { utf8 in
            ids.reserveCapacity(utf8.count / 4 + 16)
            encode(utf8, allowSpecial: allowSpecial) { id, _ in ids.append(id) }
        }
        return ids
    }

    /// The token ids of `text` and, for each, the UTF-8 byte offset in `text` where its bytes start.
    /// A token that begins in the middle of a multibyte character gets that byte's offset (tokens are
    /// bytes, not characters).
    public func encodeWithByteOffsets(_ text: String, allowSpecial: Bool) -> (ids: [Int32], byteOffsets: [Int]) {
        var ids: [Int32] = []
        var offsets: [Int] = []
        var text = text
        text.withUTF8 { utf8 in
            ids.reserveCapacity(utf8.count / 4 + 16)
            offsets.reserveCapacity(utf8.count / 4 + 16)
            encode(utf8, allowSpecial: allowSpecial) { id, offset in
                ids.append(id)
                offsets.append(offset)
            }
        }
        return (ids, offsets)
    }

    /// Calls `emit(id, byteOffset)` for each token of the UTF-8 text, in order.
    func encode(_ utf8: UnsafeBufferPointer<UInt8>, allowSpecial: Bool, emit: (Int32, Int) -> Void) {
        guard !utf8.isEmpty else { return }
        let merger = BytePairMerger()
        CharacterClass.basicPlane.withUnsafeBufferPointer { basicPlane in
            vocabulary.withView { vocabulary in
                let pretokenizer = Pretokenizer(text: utf8, basicPlane: basicPlane.baseAddress!)
                let base = utf8.baseAddress!

                // Pieces of text[start ..< end]; the pattern sees `end` as the end of the text.
                @inline(__always) func encodeOrdinary(from start: Int, to end: Int) {
                    var pieceStart = start
                    while pieceStart < end {
                        let pieceEnd = pretokenizer.pieceEnd(from: pieceStart, to: end)
                        let count = pieceEnd - pieceStart
                        // Like tiktoken: a piece that is a token is that token, whatever BPE would do.
                        let whole = vocabulary.rank(of: base + pieceStart, count: count)
                        if whole != Vocabulary.noRank {
                            emit(Int32(whole), pieceStart)
                        } else {
                            let offset = pieceStart
                            merger.merge(base + pieceStart, count: count, vocabulary) { rank, at in
                                emit(Int32(rank), offset + at)
                            }
                        }
                        pieceStart = pieceEnd
                    }
                }

                guard allowSpecial else {
                    encodeOrdinary(from: 0, to: utf8.count)
                    return
                }
                var start = 0
                while let special = GPT2Tokenizer.findEndOfText(in: utf8, from: start) {
                    encodeOrdinary(from: start, to: special)
                    emit(GPT2Tokenizer.endOfText, special)
                    start = special + GPT2Tokenizer.endOfTextUTF8.count
                }
                encodeOrdinary(from: start, to: utf8.count)
            }
        }
    }

    static let endOfTextUTF8 = Array(endOfTextString.utf8)

    /// The byte offset of the first `<|endoftext|>` at or after `start`.
    static func findEndOfText(in text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let needle = endOfTextUTF8
        guard text.count >= needle.count else { return nil }
        var i = start
        while i <= text.count - needle.count {
            if text[i] == needle[0] {
                var k = 1
                while k < needle.count && text[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
