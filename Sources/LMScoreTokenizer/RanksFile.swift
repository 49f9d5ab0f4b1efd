import Crypto
import Foundation

/// Reading a `.tiktoken` ranks file: one token per line, `<base64 of the token's bytes> <rank>`, the
/// format of tiktoken's `load_tiktoken_bpe` (and of OpenAI's `r50k_base.tiktoken`, whisper's
/// `gpt2.tiktoken`). The rank is both the token id and the merge priority (lower merges first).
enum RanksFile {
    /// SHA-256 of `data` as lowercase hex.
    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Reads `url`, checks its digest, parses it, and checks that the ranks form a byte-level BPE
    /// vocabulary whose ids leave room for `<|endoftext|>` at 50256.
    static func load(_ url: URL, expectedSHA256: String) throws(TokenizerError) -> Vocabulary {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) { throw .missingFile(url) }
            throw .unreadableFile(url, reason: (error as NSError).localizedDescription)
        }
        let actual = sha256(data)
        let expected = expectedSHA256.lowercased()
        guard actual == expected else { throw .digestMismatch(url, expected: expected, actual: actual) }
        return try parse(data, file: url)
    }

    /// The ranks in `data`, as a vocabulary. Like `load_tiktoken_bpe`, empty lines are skipped and a
    /// line must split (here: at spaces and tabs) into exactly two fields. Line numbers count from 1 and
    /// include the skipped lines, so they match an editor's.
    static func parse(_ data: Data, file url: URL) throws(TokenizerError) -> Vocabulary {
        var tokens: [[UInt8]?] = []
        var seen: [[UInt8]: Int] = [:]  // token bytes → the line that gave them
        var lineNumber = 0
        var failure: TokenizerError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0
            while lineStart < bytes.count && failure == nil {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                lineNumber += 1
                var line = bytes[lineStart ..< lineEnd]
                if line.last == 0x0D { line = line.dropLast() }  // CRLF
                lineStart = lineEnd + 1
                let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
                if fields.isEmpty { continue }
                func fail(_ reason: String) { failure = .malformedLine(url, line: lineNumber, reason: reason) }
                guard fields.count == 2 else {
                    fail("expected \"<base64 token> <rank>\", found \(fields.count) field\(fields.count == 1 ? "" : "s")")
                    return
                }
                guard let token = Base64.decode(fields[0]), !token.isEmpty else {
                    fail("\"\(String(decoding: fields[0].prefix(40), as: UTF8.self))\" is not base64 of a token")
                    return
                }
                guard let rank = Int(String(decoding: fields[1], as: UTF8.self)), rank >= 0 else {
                    fail("rank \"\(String(decoding: fields[1].prefix(40), as: UTF8.self))\" is not a non-negative integer")
                    return
                }
                guard rank < Int(GPT2Tokenizer.endOfText) else {
                    fail("rank \(rank) is not below \(GPT2Tokenizer.endOfText), the id of \(GPT2Tokenizer.endOfTextString)")
                    return
                }
                if let earlier = seen[token] {
                    fail("token \(String(decoding: fields[0], as: UTF8.self)) repeats line \(earlier)")
                    return
                }
                seen[token] = lineNumber
                if rank >= tokens.count { tokens.append(contentsOf: repeatElement(nil, count: rank + 1 - tokens.count)) }
                guard tokens[rank] == nil else {
                    fail("rank \(rank) is given to two tokens")
                    return
                }
                tokens[rank] = token
            }
        }
        if let failure { throw failure }
        guard !tokens.isEmpty else { throw .invalidVocabulary(url, reason: "no ranks (empty file)") }
        if let gap = tokens.firstIndex(where: { $0 == nil }) {
            throw .invalidVocabulary(url, reason: "no token has rank \(gap), but ranks go up to \(tokens.count - 1)")
        }
        for byte in 0 ... 255 where seen[[UInt8(byte)]] == nil {
            let hex = String(byte, radix: 16, uppercase: true)
            throw .invalidVocabulary(url, reason: "byte 0x\(byte < 16 ? "0" : "")\(hex) has no rank (byte-level BPE needs all 256)")
        }
        return Vocabulary(tokens: tokens.map { $0! })
    }
}

/// Standard base64 (RFC 4648: `+/` alphabet, `=` padding), read strictly: anything else in a ranks file
/// is a damaged line, not something to skip as Python's lenient `base64.b64decode` would.
enum Base64 {
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(c)] = UInt8(i)
        }
        return table
    }()

    /// The bytes `text` encodes, or nil if it is not padded base64.
    static func decode<Text: Collection<UInt8>>(_ text: Text) -> [UInt8]? {
        let chars = Array(text)
        guard chars.count % 4 == 0 else { return nil }
        var padding = 0
        if chars.last == UInt8(ascii: "=") { padding += 1 }
        if chars.count >= 2 && chars[chars.count - 2] == UInt8(ascii: "=") { padding += 1 }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var group: UInt32 = 0
        for (i, c) in chars.enumerated() {
            let value: UInt8
            if i >= chars.count - padding {
                value = 0
            } else {
                value = values[Int(c)]
                if value == 0xFF { return nil }
            }
            group = group << 6 | UInt32(value)
            if i % 4 == 3 {
                out.append(UInt8(truncatingIfNeeded: group >> 16))
                out.append(UInt8(truncatingIfNeeded: group >> 8))
                out.append(UInt8(truncatingIfNeeded: group))
                group = 0
            }
        }
        out.removeLast(padding)
        return out
    }
}
