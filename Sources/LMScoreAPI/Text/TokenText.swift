import LMScoreTokenizer

/// How tokens are shown to clients as text: `/score`'s `tokens`, `/tokenize`'s `token_strings` and the
/// completions `logprobs.tokens` all use these.
enum TokenText {
    /// A token's text. GPT-2 splits many characters (emoji, CJK) across tokens, so a token's bytes need
    /// not be UTF-8 on their own: those are written `bytes:\xe2\x80` (OpenAI's convention), never with
    /// a lossy U+FFFD.
    static func string(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return "bytes:" + bytes.map { "\\x" + String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// Per token, the offset in code points (Python `str` indices) at which it starts in the text of
    /// all the tokens together; a token that begins inside a character gets that character's offset
    /// (tiktoken's `decode_with_offsets`, without its refusal of bytes that are not UTF-8).
    static func codePointOffsets(_ tokens: [[UInt8]]) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(tokens.count)
        var codePoints = 0
        for bytes in tokens {
            let leadsWithContinuation = bytes.first.map { $0 & 0xC0 == 0x80 } ?? false
            offsets.append(leadsWithContinuation && codePoints > 0 ? codePoints - 1 : codePoints)
            codePoints += bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        }
        return offsets
    }
}

extension APIError {
    /// 422 for text input when the model directory has no tokenizer (e.g. a non-GPT-2 vocabulary).
    public static func noTokenizer(_ param: String) -> APIError {
        .invalid(param, "this model has no tokenizer (no gpt2.tiktoken or tokenizer.json in its directory and its vocabulary is not GPT-2's); "
                 + "send token ids instead", code: "tokenizer_unavailable")
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
