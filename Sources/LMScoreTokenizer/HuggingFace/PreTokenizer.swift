/// The `pre_tokenizer` of a `tokenizer.json`: cuts normalized text into the pieces BPE works on (it never
/// merges across them), and for byte-level models maps each piece's bytes to the byte-level alphabet.
indirect enum HFPreTokenizer: Sendable {
    case sequence([HFPreTokenizer])
    /// GPT-2's byte level: an optional leading space, the GPT-2 regex (`use_regex`), then bytes → alphabet.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    /// Digits on their own: each one (`individual_digits`) or each run.
    case digits(individual: Bool)
    /// SentencePiece's spaces: `' '` → `replacement`, a leading `replacement` per `prependScheme`,
    /// optionally a cut before each `replacement`.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)

    enum PrependScheme: String, Sendable {
        case always, never, first

        /// A Metaspace pre-tokenizer's or decoder's scheme: `prepend_scheme`, or in older files
        /// `add_prefix_space` (true: always).
        init(_ json: TokenizerJSON) throws(TokenizerError) {
            guard let name = try json.optionalString("prepend_scheme") else {
                self = try json.bool("add_prefix_space", default: true) ? .always : .never
                return
            }
            guard let known = PrependScheme(rawValue: name) else { throw json.unsupported("prepend_scheme", name) }
            self = known
        }
    }

    init(_ json: TokenizerJSON) throws(TokenizerError) {
        let type = try json.type
        switch type {
        case "Sequence":
            var steps: [HFPreTokenizer] = []
            for step in try json.objects("pretokenizers") { steps.append(try HFPreTokenizer(step)) }
            self = .sequence(steps)
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try json.bool("add_prefix_space", default: true),
                              useRegex: try json.bool("use_regex", default: true))
        case "Split":
            let (literal, regex) = try json.pattern("pattern")
            let pattern: SplitPattern
            if let literal {
                pattern = .literal(Array(literal.unicodeScalars))
            } else {
                pattern = try SplitPattern.compile(regex!, json: json, key: "pattern.Regex")
            }
            let behaviorName = try json.string("behavior")
            guard let behavior = SplitBehavior(rawValue: behaviorName) else { throw json.unsupported("behavior", behaviorName) }
            self = .split(pattern, behavior: behavior, invert: try json.bool("invert", default: false))
        case "Digits":
            self = .digits(individual: try json.bool("individual_digits", default: false))
        case "Metaspace":
            let replacement = try json.string("replacement").unicodeScalars
            guard replacement.count == 1 else { throw json.invalid("replacement", "expected one character") }
            self = .metaspace(replacement: replacement.first!, prependScheme: try PrependScheme(json),
                              split: try json.bool("split", default: true))
        default:
            throw json.unsupported("type", type)
        }
    }

    /// Each piece cut further; empty pieces are dropped (as HF drops empty splits).
    func split(_ pieces: [TextPiece]) -> [TextPiece] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.split($0) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            return pieces.flatMap { piece -> [TextPiece] in
                var piece = piece
                if addPrefixSpace && piece.scalars.first != " " { piece.prepend([" "]) }
                let cut = useRegex ? HFPreTokenizer.gpt2Pieces(piece) : [piece]
                return cut.map(ByteLevelAlphabet.mapped)
            }
        case .split(let pattern, let behavior, let invert):
            return pieces.flatMap { piece in
                var matches = pattern.matches(in: piece.scalars)
                if invert { matches = matches.map { ($0.range, !$0.isMatch) } }
                return HFPreTokenizer.cut(piece, behavior.apply(matches))
            }
        case .digits(let individual):
            return pieces.flatMap { piece in
                var matches: [(range: Range<Int>, isMatch: Bool)] = []
                var start = 0
                for (i, scalar) in piece.scalars.enumerated() where HFPreTokenizer.isNumeric(scalar) {
                    if start < i { matches.append((start ..< i, false)) }
                    matches.append((i ..< i + 1, true))
                    start = i + 1
                }
                if start < piece.count { matches.append((start ..< piece.count, false)) }
                return HFPreTokenizer.cut(piece, (individual ? SplitBehavior.isolated : .contiguous).apply(matches))
            }
        case .metaspace(let replacement, let scheme, let split):
            return pieces.flatMap { original -> [TextPiece] in
                var piece = original.replacingOccurrences(of: [" "], with: [replacement])
                let prepend = switch scheme {
                case .always: true
                case .never: false
                case .first: original.origins.first == 0  // only the stretch that starts the text
                }
                if prepend && piece.scalars.first != replacement { piece.prepend([replacement]) }
                guard split else { return [piece] }
                let matches = SplitPattern.literal([replacement]).matches(in: piece.scalars)
                return HFPreTokenizer.cut(piece, SplitBehavior.mergedWithNext.apply(matches))
            }
        }
    }

    /// Rust's `char::is_numeric`: general categories Nd, Nl, No.
    static func isNumeric(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return (0x30 ... 0x39).contains(scalar.value) }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func cut(_ piece: TextPiece, _ ranges: [Range<Int>]) -> [TextPiece] {
        ranges.compactMap { $0.isEmpty ? nil : piece[$0] }
    }

    /// The piece cut by GPT-2's pattern, which HF's ByteLevel hard-codes and tiktoken's r50k shares:
    /// the hand-written `Pretokenizer` of the tiktoken path, run over the piece's UTF-8.
    static func gpt2Pieces(_ piece: TextPiece) -> [TextPiece] {
        let utf8 = piece.utf8
        var scalarAtByte = [Int](repeating: 0, count: utf8.count + 1)  // [bytes + 1], valid at scalar starts
        var byte = 0
        for (index, scalar) in piece.scalars.enumerated() {
            scalarAtByte[byte] = index
            byte += UTF8.width(scalar)
        }
        scalarAtByte[utf8.count] = piece.count
        var out: [TextPiece] = []
        CharacterClass.basicPlane.withUnsafeBufferPointer { basicPlane in
            utf8.withUnsafeBufferPointer { text in
                let pretokenizer = Pretokenizer(text: text, basicPlane: basicPlane.baseAddress!)
                var start = 0
                while start < text.count {
                    let end = pretokenizer.pieceEnd(from: start, to: text.count)
                    out.append(piece[scalarAtByte[start] ..< scalarAtByte[end]])
                    start = end
                }
            }
        }
        return out
    }
}
