import Foundation

/// The `normalizer` of a `tokenizer.json`: rewrites each stretch of text between added tokens before it
/// is split. Each kind keeps the origins of what it rewrites (`TextPiece`).
indirect enum HFNormalizer: Sendable {
    case sequence([HFNormalizer])
    /// Unicode normalization forms, as HF's `NFC`, `NFD`, `NFKC`, `NFKD`.
    case unicode(UnicodeForm)
    /// Puts `prepend` in front of non-empty text (SentencePiece's leading `▁`, legacy Llama form).
    case prepend([Unicode.Scalar])
    /// Replaces each occurrence of a literal string (`" "` → `"▁"`).
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    /// Unicode lowercase mapping per character.
    case lowercase

    enum UnicodeForm: String, Sendable { case nfc = "NFC", nfd = "NFD", nfkc = "NFKC", nfkd = "NFKD" }

    init(_ json: TokenizerJSON) throws(TokenizerError) {
        let type = try json.type
        switch type {
        case "Sequence":
            var steps: [HFNormalizer] = []
            for step in try json.objects("normalizers") { steps.append(try HFNormalizer(step)) }
            self = .sequence(steps)
        case "NFC", "NFD", "NFKC", "NFKD":
            self = .unicode(UnicodeForm(rawValue: type)!)
        case "Prepend":
            self = .prepend(Array(try json.string("prepend").unicodeScalars))
        case "Replace":
            let (literal, regex) = try json.pattern("pattern")
            guard let literal else { throw json.unsupported("pattern.Regex", regex ?? "") }
            self = .replace(pattern: Array(literal.unicodeScalars), content: Array(try json.string("content").unicodeScalars))
        case "Lowercase":
            self = .lowercase
        default:
            throw json.unsupported("type", type)
        }
    }

    func normalize(_ piece: TextPiece) -> TextPiece {
        switch self {
        case .sequence(let steps):
            return steps.reduce(piece) { $1.normalize($0) }
        case .unicode(let form):
            return HFNormalizer.normalize(piece, form)
        case .prepend(let text):
            guard !piece.isEmpty else { return piece }
            var out = piece
            out.prepend(text)
            return out
        case .replace(let pattern, let content):
            return piece.replacingOccurrences(of: pattern, with: content)
        case .lowercase:
            var out = TextPiece()
            for (scalar, origin) in zip(piece.scalars, piece.origins) {
                if scalar.value < 0x80 {
                    let lower = (0x41 ... 0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 32)! : scalar
                    out.append(lower, origin: origin)
                } else {
                    for lower in scalar.properties.lowercaseMapping.unicodeScalars { out.append(lower, origin: origin) }
                }
            }
            return out
        }
    }

    /// Normalizes one grapheme cluster at a time (canonical composition and decomposition never reach
    /// across a cluster boundary), so each output scalar keeps the origin of its cluster's start. ASCII
    /// clusters are their own normal form in every form and are copied as they are.
    static func normalize(_ piece: TextPiece, _ form: UnicodeForm) -> TextPiece {
        guard piece.scalars.contains(where: { $0.value >= 0x80 }) else { return piece }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: piece.scalars)
        var out = TextPiece()
        out.scalars.reserveCapacity(piece.count)
        out.origins.reserveCapacity(piece.count)
        var index = 0
        for cluster in String(text) {
            let scalars = cluster.unicodeScalars
            let origin = piece.origins[index]
            index += scalars.count
            if scalars.allSatisfy({ $0.value < 0x80 }) {
                for scalar in scalars { out.append(scalar, origin: origin) }
                continue
            }
            let string = String(cluster)
            let normalized: String
            switch form {
            case .nfc: normalized = string.precomposedStringWithCanonicalMapping
            case .nfd: normalized = string.decomposedStringWithCanonicalMapping
            case .nfkc: normalized = string.precomposedStringWithCompatibilityMapping
            case .nfkd: normalized = string.decomposedStringWithCompatibilityMapping
            }
            for scalar in normalized.unicodeScalars { out.append(scalar, origin: origin) }
        }
        return out
    }
}
