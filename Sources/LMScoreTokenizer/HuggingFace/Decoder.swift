/// The `decoder` of a `tokenizer.json`: turns the tokens' strings back into text. `decode` follows HF's
/// `decode_chain` step for step, so `/detokenize` returns what `tokenizer.decode(ids)` returns;
/// `bytes(of:)` gives one token's own bytes for token strings and offsets.
indirect enum HFDecoder: Sendable {
    case sequence([HFDecoder])
    /// Each byte-level character back to its byte; all tokens joined, invalid UTF-8 → U+FFFD.
    case byteLevel
    /// Literal replacement in each token (`▁` → `" "`).
    case replace(pattern: String, content: String)
    /// Runs of `<0xNN>` tokens back to their bytes (U+FFFD per token if those are not UTF-8).
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Up to `start` leading and `stop` trailing `content` characters cut from each token.
    case strip(content: Character, start: Int, stop: Int)
    /// `replacement` → space, except in the first token, where HF drops every `replacement` unless the
    /// scheme is `never`.
    case metaspace(replacement: Character, prependScheme: HFPreTokenizer.PrependScheme)

    init(_ json: TokenizerJSON) throws(TokenizerError) {
        let type = try json.type
        switch type {
        case "Sequence":
            var steps: [HFDecoder] = []
            for step in try json.objects("decoders") { steps.append(try HFDecoder(step)) }
            self = .sequence(steps)
        case "ByteLevel":
            self = .byteLevel
        case "Replace":
            let (literal, regex) = try json.pattern("pattern")
            guard let literal else { throw json.unsupported("pattern.Regex", regex ?? "") }
            self = .replace(pattern: literal, content: try json.string("content"))
        case "ByteFallback":
            self = .byteFallback
        case "Fuse":
            self = .fuse
        case "Strip":
            let content = try json.string("content")
            guard content.count == 1 else { throw json.invalid("content", "expected one character") }
            self = .strip(content: content.first!, start: try json.int("start"), stop: try json.int("stop"))
        case "Metaspace":
            let replacement = try json.string("replacement")
            guard replacement.count == 1 else { throw json.invalid("replacement", "expected one character") }
            self = .metaspace(replacement: replacement.first!, prependScheme: try HFPreTokenizer.PrependScheme(json))
        default:
            throw json.unsupported("type", type)
        }
    }

    /// HF `Decoder::decode_chain`.
    func decode(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(tokens) { $1.decode($0) }
        case .byteLevel:
            let bytes = tokens.flatMap(ByteLevelAlphabet.bytes(of:))
            return [String(decoding: bytes, as: UTF8.self)]
        case .replace(let pattern, let content):
            return tokens.map { $0.replacingLiteral(pattern, with: content) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []  // bytes of the current run of <0xNN> tokens
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = String(validating: pending, as: UTF8.self) {
                    out.append(text)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for token in tokens {
                if let byte = HFDecoder.fallbackByte(token) {
                    pending.append(byte)
                } else {
                    flush()
                    out.append(token)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let characters = Array(token.unicodeScalars)
                let scalar = content.unicodeScalars.first!
                var from = 0
                while from < min(start, characters.count) && characters[from] == scalar { from += 1 }
                var to = characters.count
                while characters.count - to < stop && to > from && characters[to - 1] == scalar { to -= 1 }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: characters[from ..< to])
                return String(view)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, token in
                token.replacingLiteral(String(replacement), with: i == 0 && scheme != .never ? "" : " ")
            }
        }
    }

    /// `<0x41>` → 0x41, anything else nil.
    static func fallbackByte(_ token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, token.hasPrefix("<0x"), utf8[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: utf8[3 ..< 5], as: UTF8.self), radix: 16)
    }

    /// The bytes one token contributes to decoded text: the steps that work token by token (byte-level
    /// characters, replacements, `<0xNN>`, `▁`), without the ones that join tokens or trim the text's
    /// start (`Fuse`, `Strip`, Metaspace's first space).
    func bytes(of token: String) -> [UInt8] {
        switch self {
        case .sequence(let steps):
            var current = token
            for step in steps {
                if case .byteLevel = step { return ByteLevelAlphabet.bytes(of: current) }
                if case .byteFallback = step, let byte = HFDecoder.fallbackByte(current) {
                    // A lone byte need not be UTF-8: no later step can work on it as text.
                    return [byte]
                }
                current = step.tokenText(current)
            }
            return Array(current.utf8)
        case .byteLevel:
            return ByteLevelAlphabet.bytes(of: token)
        case .byteFallback:
            return HFDecoder.fallbackByte(token).map { [$0] } ?? Array(token.utf8)
        default:
            return Array(tokenText(token).utf8)
        }
    }

    /// One token through a step that works token by token; joining and trimming steps leave it alone.
    private func tokenText(_ token: String) -> String {
        switch self {
        case .replace(let pattern, let content): return token.replacingLiteral(pattern, with: content)
        case .metaspace(let replacement, _): return token.replacingLiteral(String(replacement), with: " ")
        case .sequence, .byteLevel, .byteFallback, .fuse, .strip: return token
        }
    }
}

extension String {
    /// Every occurrence of `pattern` replaced, compared scalar by scalar (never by canonical
    /// equivalence, which Swift's `==` on strings uses).
    func replacingLiteral(_ pattern: String, with content: String) -> String {
        let piece = TextPiece(scalars: Array(unicodeScalars), origins: Array(repeating: 0, count: unicodeScalars.count))
        var view = String.UnicodeScalarView()
        view.append(contentsOf: piece.replacingOccurrences(of: Array(pattern.unicodeScalars), with: Array(content.unicodeScalars)).scalars)
        return String(view)
    }
}
