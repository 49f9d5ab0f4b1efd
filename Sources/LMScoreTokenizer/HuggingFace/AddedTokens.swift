import Foundation

/// The `added_tokens` of a `tokenizer.json`: strings matched in the text before anything else and
/// given their id whole (`<|endoftext|>`, `<s>`, NeoX's runs of spaces). Matching is leftmost-longest,
/// as HF's Aho-Corasick split. Tokens with `normalized: false` are found in the raw text, those with
/// `normalized: true` in each stretch after the normalizer ran, as HF does.
struct AddedTokens: Sendable {
    struct Token: Sendable {
        let id: Int32
        /// As the file writes it (what decoding gives back).
        let text: String
        /// What is matched: `text`, normalized for a `normalized` token.
        let content: [Unicode.Scalar]
        let special: Bool
        let normalized: Bool
    }

    let tokens: [Token]
    let byID: [Int32: Token]
    /// `matcher(normalized:allowSpecial:)`'s four matchers.
    private let matchers: [Matcher]

    init(_ json: TokenizerJSON, normalizer: HFNormalizer?) throws(TokenizerError) {
        guard json.value("added_tokens") != nil else { tokens = []; byID = [:]; matchers = AddedTokens.matchers([]); return }
        var tokens: [Token] = []
        for entry in try json.objects("added_tokens") {
            for option in ["single_word", "lstrip", "rstrip"] where try entry.bool(option, default: false) {
                throw entry.unsupported(option, "true")
            }
            let content = try entry.string("content")
            guard !content.isEmpty else { throw entry.invalid("content", "empty") }
            let id = try entry.int("id")
            guard id >= 0, id < 1 << 24 else { throw entry.invalid("id", "\(id) out of range") }
            let special = try entry.bool("special", default: false)
            let normalized = try entry.bool("normalized", default: !special)
            var match = TextPiece(content.unicodeScalars[...], startingAt: 0)
            if normalized, let normalizer { match = normalizer.normalize(match) }
            guard !match.isEmpty else { throw entry.invalid("content", "empty once normalized") }
            tokens.append(Token(id: Int32(id), text: content, content: match.scalars, special: special, normalized: normalized))
        }
        self.tokens = tokens
        byID = Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        matchers = AddedTokens.matchers(tokens)
    }

    /// A stretch of text between added tokens, or an added token.
    enum Segment {
        case text(TextPiece)
        case token(Int32, origin: Int)
    }

    /// Which added tokens one pass looks for, by first character, longest first: built once at load
    /// (four of them: raw or normalized text, with or without the special tokens).
    struct Matcher: Sendable {
        let byFirst: [Unicode.Scalar: [Token]]

        init(_ tokens: [Token]) {
            var byFirst: [Unicode.Scalar: [Token]] = [:]
            for token in tokens { byFirst[token.content[0], default: []].append(token) }
            for key in byFirst.keys { byFirst[key]!.sort { $0.content.count > $1.content.count } }
            self.byFirst = byFirst
        }
    }

    /// The matcher for one pass: tokens matched in the raw text (`normalized: false`) or after the
    /// normalizer (`normalized: true`), special ones only when `allowSpecial`.
    func matcher(normalized: Bool, allowSpecial: Bool) -> Matcher {
        matchers[(normalized ? 2 : 0) + (allowSpecial ? 1 : 0)]
    }

    static func matchers(_ tokens: [Token]) -> [Matcher] {
        [(false, false), (false, true), (true, false), (true, true)].map { normalized, allowSpecial in
            Matcher(tokens.filter { $0.normalized == normalized && (allowSpecial || !$0.special) })
        }
    }

    /// `piece` cut at every occurrence of the matcher's tokens: leftmost match first, the longest where
    /// several start at the same place (HF's leftmost-longest Aho-Corasick split).
    func split(_ piece: TextPiece, _ matcher: Matcher) -> [Segment] {
        guard !matcher.byFirst.isEmpty else { return [.text(piece)] }
        var segments: [Segment] = []
        var start = 0, i = 0
        let scalars = piece.scalars
        while i < scalars.count {
            if let options = matcher.byFirst[scalars[i]],
               let found = options.first(where: { i + $0.content.count <= scalars.count && scalars[i ..< i + $0.content.count].elementsEqual($0.content) }) {
                if start < i { segments.append(.text(piece[start ..< i])) }
                segments.append(.token(found.id, origin: piece.origins[i]))
                i += found.content.count
                start = i
            } else {
                i += 1
            }
        }
        if start < scalars.count { segments.append(.text(piece[start ..< scalars.count])) }
        return segments
    }

    /// The token with this id, if it is an added token.
    func token(_ id: Int32) -> Token? { byID[id] }
}
