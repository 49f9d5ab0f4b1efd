import Foundation

/// Everything that can go wrong loading a ranks file or decoding ids. Each case renders as one line
/// that names the file (or the token) and what is wrong with it, so a CLI or a server log can print it
/// as is: `.../gpt2.tiktoken: SHA-256 is 1f2e…, expected 306c… (a different or damaged file?)`.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The ranks file does not exist.
    case missingFile(URL)
    /// The ranks file exists but could not be read (permissions, a directory, an I/O error).
    case unreadableFile(URL, reason: String)
    /// The file's SHA-256 is not the one it must have. Both digests are lowercase hex.
    case digestMismatch(URL, expected: String, actual: String)
    /// Line `line` (1-based) is not `<base64 bytes> <rank>`, or repeats a token or a rank.
    case malformedLine(URL, line: Int, reason: String)
    /// Every line is well formed but the ranks do not make a usable byte-level vocabulary
    /// (ranks not 0..<n, a single byte without a rank, too many ranks for id 50256 to be special).
    case invalidVocabulary(URL, reason: String)
    /// A `tokenizer.json` component or option this reader does not implement: `key` is its path
    /// (`pre_tokenizer.pretokenizers[0].type`), `value` what the file asks for. Refused at load, so
    /// that text never silently gets ids other than HF `tokenizers` would give.
    case unsupported(URL, key: String, value: String)
    /// A `tokenizer.json` (or `tokenizer_config.json`) that is not what the format says: bad JSON, a
    /// missing or mistyped key, a merge of tokens that are not in the vocabulary.
    case invalidTokenizer(URL, reason: String)
    /// `ids[position]` is not a token id of this vocabulary.
    case unknownTokenID(Int32, position: Int)
    /// The tokens' bytes are not valid UTF-8: the first bad byte belongs to `ids[position]`.
    /// Only `decodeWithOffsets` reports this (as tiktoken's `decode_with_offsets`, which decodes
    /// strictly); `decode` replaces bad bytes with U+FFFD instead.
    case invalidUTF8(position: Int)

    public var description: String {
        switch self {
        case .missingFile(let url):
            return "\(url.path): no such file"
        case .unreadableFile(let url, let reason):
            return "\(url.path): cannot read: \(reason)"
        case .digestMismatch(let url, let expected, let actual):
            return "\(url.path): SHA-256 is \(actual), expected \(expected) (a different or damaged ranks file?)"
        case .malformedLine(let url, let line, let reason):
            return "\(url.path): line \(line): \(reason)"
        case .invalidVocabulary(let url, let reason):
            return "\(url.path): \(reason)"
        case .unsupported(let url, let key, let value):
            return "\(url.path): \(key): \"\(value)\" unsupported"
        case .invalidTokenizer(let url, let reason):
            return "\(url.path): \(reason)"
        case .unknownTokenID(let id, let position):
            return "token id \(id) at position \(position) is not in the vocabulary"
        case .invalidUTF8(let position):
            return "the tokens' bytes are not valid UTF-8 (first bad byte in the token at position \(position))"
        }
    }
}
