import Foundation
import LMScoreTestSupport
import LMScoreTokenizer
import Testing

/// One small `tokenizer.json` per construct, with the ids HF `tokenizers` gives for it worked out by
/// hand, and one per refusal.
struct HFTokenizerConstructTests {
    /// A `tokenizer.json` (and optionally a tokenizer_config.json) written to a scratch directory.
    static func load(model: [String: Any], normalizer: Any = NSNull(), preTokenizer: Any = NSNull(),
                     decoder: Any = NSNull(), postProcessor: Any = NSNull(), addedTokens: [[String: Any]] = [],
                     config: [String: Any]? = nil, extra: [String: Any] = [:]) throws -> HFTokenizer {
        var modelWithMarker = model
        if model["vocab"] is [String] { modelWithMarker["vocab"] = ["@@vocab@@"] }
        var body: [String: Any] = ["version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": addedTokens,
                                   "normalizer": normalizer, "pre_tokenizer": preTokenizer, "post_processor": postProcessor,
                                   "decoder": decoder, "model": modelWithMarker]
        for (key, value) in extra { body[key] = value }
        // The vocabulary is written by hand: a Swift dictionary would merge canonically equivalent keys.
        var text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        if let tokens = model["vocab"] as? [String] {
            let members = try tokens.enumerated().map { id, token in
                String(decoding: try JSONSerialization.data(withJSONObject: token, options: .fragmentsAllowed), as: UTF8.self) + ":\(id)"
            }
            text = text.replacingOccurrences(of: "[\"@@vocab@@\"]", with: "{" + members.joined(separator: ",") + "}")
        }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let file = try scratch.write("tokenizer.json", Data(text.utf8))
        var configFile: URL? = nil
        if let config { configFile = try scratch.write("tokenizer_config.json", JSONSerialization.data(withJSONObject: config)) }
        return try HFTokenizer(file: file, config: configFile)
    }

    /// A BPE model whose vocabulary is `tokens`, ids in order (written out by `load`).
    static func bpe(_ tokens: [String], merges: [Any], _ options: [String: Any] = [:]) -> [String: Any] {
        var model: [String: Any] = ["type": "BPE", "vocab": tokens, "merges": merges, "dropout": NSNull(),
                                    "unk_token": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false]
        for (key, value) in options { model[key] = value }
        return model
    }

    static func added(_ id: Int, _ content: String, special: Bool, normalized: Bool? = nil) -> [String: Any] {
        ["id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
         "normalized": normalized ?? !special, "special": special]
    }

    /// The error's one-line description, or nil when loading succeeds.
    static func refusal(_ load: () throws -> HFTokenizer) -> String? {
        do { _ = try load(); return nil } catch { return "\(error)" }
    }

    @Test func mergesApplyInListOrderNotIdOrder() throws {
        let tokens = ["a", "b", "c", "ab", "bc"]
        let bcFirst = try Self.load(model: Self.bpe(tokens, merges: ["b c", "a b"]))
        #expect(bcFirst.encode("abc", allowSpecial: true) == [0, 4])
        let abFirst = try Self.load(model: Self.bpe(tokens, merges: [["a", "b"], ["b", "c"]]))  // the pair form
        #expect(abFirst.encode("abc", allowSpecial: true) == [3, 2])
    }

    @Test func ignoreMergesTakesAWholePreTokenThatIsAToken() throws {
        let tokens = ["a", "b", "c", "ab", "abc"]
        let merging = try Self.load(model: Self.bpe(tokens, merges: ["a b"]))
        #expect(merging.encode("abc", allowSpecial: true) == [3, 2])  // no merge makes "abc"
        let whole = try Self.load(model: Self.bpe(tokens, merges: ["a b"], ["ignore_merges": true]))
        #expect(whole.encode("abc", allowSpecial: true) == [4])
    }

    @Test func byteFallbackAndFusedUnknowns() throws {
        let tokens = ["<unk>", "<0xC3>", "<0xA9>", "a", "▁"]
        let decoder: [String: Any] = ["type": "Sequence", "decoders": [["type": "ByteFallback"], ["type": "Fuse"]]]
        let fallback = try Self.load(model: Self.bpe(tokens, merges: [], ["unk_token": "<unk>", "byte_fallback": true]), decoder: decoder)
        #expect(fallback.encode("aé", allowSpecial: true) == [3, 1, 2])
        #expect(try fallback.decode([3, 1, 2]) == "aé")
        #expect(try fallback.decode([3, 1]) == "a\u{FFFD}")  // one U+FFFD per byte token that is not UTF-8
        #expect(fallback.tokenBytes(1) == [0xC3])
        // 'x' has no byte token here: unknown; runs fuse with fuse_unk, one per character without.
        #expect(fallback.encode("axxa", allowSpecial: true) == [3, 0, 0, 3])
        let fused = try Self.load(model: Self.bpe(tokens, merges: [], ["unk_token": "<unk>", "fuse_unk": true]))
        #expect(fused.encode("axxa", allowSpecial: true) == [3, 0, 3])
    }

    @Test func vocabularyIsKeyedByBytesNotByCanonicalEquivalence() throws {
        let tokenizer = try Self.load(model: Self.bpe(["e", "\u{301}", "\u{E9}", "e\u{301}"], merges: ["e \u{301}"]))
        #expect(tokenizer.encode("\u{E9}", allowSpecial: true) == [2])  // NFC é
        #expect(tokenizer.encode("e\u{301}", allowSpecial: true) == [3])  // NFD é
        let nfc = try Self.load(model: Self.bpe(["e", "\u{301}", "\u{E9}", "e\u{301}"], merges: ["e \u{301}"]),
                                normalizer: ["type": "NFC"])
        #expect(nfc.encode("e\u{301}", allowSpecial: true) == [2])
    }

    static let sentencePieceTokens = ["<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "▁hi"]

    @Test func legacySentencePieceNormalizer() throws {
        let tokenizer = try Self.load(
            model: Self.bpe(Self.sentencePieceTokens, merges: ["▁ h", "▁h i"], ["unk_token": "<unk>"]),
            normalizer: ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": "▁"],
                                                             ["type": "Replace", "pattern": ["String": " "], "content": "▁"]]],
            decoder: ["type": "Sequence", "decoders": [["type": "Replace", "pattern": ["String": "▁"], "content": " "],
                                                       ["type": "ByteFallback"], ["type": "Fuse"],
                                                       ["type": "Strip", "content": " ", "start": 1, "stop": 0]]],
            addedTokens: [Self.added(1, "<s>", special: true)])
        #expect(tokenizer.encode("hi hi", allowSpecial: true) == [7, 7])
        #expect(try tokenizer.decode([7, 7]) == "hi hi")
        // Each stretch between added tokens gets its own ▁, as in HF's legacy Llama tokenizer.
        #expect(tokenizer.encode("<s>hi", allowSpecial: true) == [1, 7])
        #expect(tokenizer.encodeWithByteOffsets("hi hi", allowSpecial: true).byteOffsets == [0, 2])
        #expect(tokenizer.tokenBytes(7) == Array(" hi".utf8))
    }

    @Test func metaspacePrependsOnlyAtTheStartOfTheText() throws {
        let tokenizer = try Self.load(
            model: Self.bpe(Self.sentencePieceTokens, merges: ["▁ h", "▁h i"], ["unk_token": "<unk>"]),
            preTokenizer: ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false],
            decoder: ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false],
            addedTokens: [Self.added(1, "<s>", special: true)])
        #expect(tokenizer.encode("hi hi", allowSpecial: true) == [7, 7])
        #expect(tokenizer.encode("<s>hi", allowSpecial: true) == [1, 4, 5])  // not at the start: no ▁
        #expect(try tokenizer.decode([7, 7]) == "hi hi")
    }

    static let digitTokens = ["1", "2", "3", "4", "5", "12", "123", "45", "a"]

    @Test func digitsAndSplitRegex() throws {
        let merges = ["1 2", "12 3", "4 5"]
        let individual = try Self.load(model: Self.bpe(Self.digitTokens, merges: merges),
                                       preTokenizer: ["type": "Digits", "individual_digits": true])
        #expect(individual.encode("12345", allowSpecial: true) == [0, 1, 2, 3, 4])
        let runs = try Self.load(model: Self.bpe(Self.digitTokens, merges: merges),
                                 preTokenizer: ["type": "Digits", "individual_digits": false])
        #expect(runs.encode("a12345a", allowSpecial: true) == [8, 6, 7, 8])
        // Llama 3's digit groups: \p{N}{1,3}
        let groups = try Self.load(model: Self.bpe(Self.digitTokens, merges: merges),
                                   preTokenizer: ["type": "Split", "pattern": ["Regex": "\\p{N}{1,3}"], "behavior": "Isolated", "invert": false])
        #expect(groups.encode("12345", allowSpecial: true) == [6, 7])
    }

    @Test func splitBehaviors() throws {
        let tokens = ["a", "-", "a-", "-a"]
        func split(_ behavior: String) throws -> [Int32] {
            try Self.load(model: Self.bpe(tokens, merges: ["a -", "- a"]),
                          preTokenizer: ["type": "Split", "pattern": ["String": "-"], "behavior": behavior, "invert": false])
                .encode("a-a", allowSpecial: true)
        }
        #expect(try split("Isolated") == [0, 1, 0])
        #expect(try split("Removed") == [0, 0])
        #expect(try split("MergedWithPrevious") == [2, 0])
        #expect(try split("MergedWithNext") == [0, 3])
    }

    /// `\s` is Oniguruma's (the White_Space property), which ICU's own `\s` is not: U+0085 and U+000B.
    @Test func regexWhitespaceIsOnigurumas() throws {
        let tokens = ["a", "\u{85}", "\u{B}", " "]
        let tokenizer = try Self.load(model: Self.bpe(tokens, merges: []),
                                      preTokenizer: ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Removed", "invert": false])
        #expect(tokenizer.encode("a\u{85}a\u{B}a a", allowSpecial: true) == [0, 0, 0, 0])
    }

    @Test func byteLevelWithAndWithoutRegex() throws {
        // Ġ is the space byte; "Ġa" merges only if the space and the letter share a pre-token.
        let tokens = ["a", "b", "Ġ", "Ġa", "aĠ"]
        let regex = try Self.load(model: Self.bpe(tokens, merges: ["Ġ a", "a Ġ"]),
                                  preTokenizer: ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true, "trim_offsets": true],
                                  decoder: ["type": "ByteLevel"])
        #expect(regex.encode("a a", allowSpecial: true) == [0, 3])
        #expect(try regex.decode([0, 3]) == "a a")
        #expect(regex.tokenBytes(3) == Array(" a".utf8))
        let whole = try Self.load(model: Self.bpe(tokens, merges: ["a Ġ", "Ġ a"]),
                                  preTokenizer: ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false, "trim_offsets": true])
        #expect(whole.encode("a a", allowSpecial: true) == [4, 0])
        let prefixed = try Self.load(model: Self.bpe(tokens, merges: ["Ġ a"]),
                                     preTokenizer: ["type": "ByteLevel", "add_prefix_space": true, "use_regex": true, "trim_offsets": true])
        #expect(prefixed.encode("a", allowSpecial: true) == [3])
    }

    @Test func addedTokensLeftmostLongestAndAllowSpecial() throws {
        let tokens = ["<", "|", ">", "e", "x", " "]
        let tokenizer = try Self.load(model: Self.bpe(tokens, merges: []),
                                      addedTokens: [Self.added(6, "<|e|>", special: true), Self.added(7, "<|e|>x", special: false, normalized: false),
                                                    Self.added(8, "  ", special: false)])
        #expect(tokenizer.encode("x<|e|>x<|e|>", allowSpecial: true) == [4, 7, 6])
        #expect(tokenizer.encode("<|e|>  x", allowSpecial: false) == [0, 1, 3, 1, 2, 8, 4])  // the special one is text
        #expect(tokenizer.vocabularySize == 9)
        #expect(try tokenizer.decode([6, 4]) == "<|e|> x")  // no decoder: HF joins tokens with spaces
    }

    @Test func beginningOfSequenceFromPostProcessorAndConfig() throws {
        let model = Self.bpe(Self.sentencePieceTokens, merges: [], ["unk_token": "<unk>"])
        let template: [String: Any] = [
            "type": "TemplateProcessing",
            "single": [["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
            "pair": [], "special_tokens": ["<s>": ["id": "<s>", "ids": [1], "tokens": ["<s>"]]],
        ]
        let added = [Self.added(1, "<s>", special: true), Self.added(2, "</s>", special: true)]
        let fromTemplate = try Self.load(model: model, postProcessor: template, addedTokens: added)
        #expect(fromTemplate.beginningOfSequence == 1 && fromTemplate.addsBeginningOfSequence)
        #expect(fromTemplate.endOfText == 2)
        let none = try Self.load(model: model, addedTokens: added)
        #expect(none.beginningOfSequence == nil && !none.addsBeginningOfSequence)
        let configOff = try Self.load(model: model, postProcessor: template, addedTokens: added,
                                      config: ["add_bos_token": false, "bos_token": "<s>", "eos_token": ["content": "</s>"]])
        #expect(configOff.beginningOfSequence == 1 && !configOff.addsBeginningOfSequence)
        let configOn = try Self.load(model: model, addedTokens: added, config: ["add_bos_token": true, "bos_token": "<s>"])
        #expect(configOn.beginningOfSequence == 1 && configOn.addsBeginningOfSequence)
    }

    @Test func unsupportedConstructsAreLoadErrorsNamingTheKey() {
        let model = Self.bpe(["a", "b"], merges: [])
        let cases: [(String, () throws -> HFTokenizer)] = [
            (#"pre_tokenizer.type: "Whitespace" unsupported"#, { try Self.load(model: model, preTokenizer: ["type": "Whitespace"]) }),
            (#"pre_tokenizer.pretokenizers[1].type: "Punctuation" unsupported"#, {
                try Self.load(model: model, preTokenizer: ["type": "Sequence", "pretokenizers": [["type": "Digits"], ["type": "Punctuation"]]])
            }),
            (#"normalizer.type: "BertNormalizer" unsupported"#, { try Self.load(model: model, normalizer: ["type": "BertNormalizer"]) }),
            (#"normalizer.pattern.Regex: " +" unsupported"#, {
                try Self.load(model: model, normalizer: ["type": "Replace", "pattern": ["Regex": " +"], "content": " "])
            }),
            (#"decoder.type: "WordPiece" unsupported"#, { try Self.load(model: model, decoder: ["type": "WordPiece"]) }),
            (#"model.type: "Unigram" unsupported"#, { try Self.load(model: ["type": "Unigram", "vocab": []]) }),
            ("model.continuing_subword_prefix: \"##\" unsupported", {
                try Self.load(model: Self.bpe(["a"], merges: [], ["continuing_subword_prefix": "##"]))
            }),
            (#"added_tokens[0].lstrip: "true" unsupported"#, {
                var token = Self.added(2, "<m>", special: true)
                token["lstrip"] = true
                return try Self.load(model: model, addedTokens: [token])
            }),
            (#"post_processor.type: "BertPreTokenizer" unsupported"#, { try Self.load(model: model, postProcessor: ["type": "BertPreTokenizer"]) }),
            ("truncation", { try Self.load(model: model, extra: ["truncation": ["max_length": 8]]) }),
            (#"merges[0]: the merge of ["a", "b"] is not in the vocabulary"#, { try Self.load(model: Self.bpe(["a", "b"], merges: ["a b"])) }),
            (#"pre_tokenizer.pattern.Regex: regex ( does not compile"#, {
                try Self.load(model: model, preTokenizer: ["type": "Split", "pattern": ["Regex": "("], "behavior": "Isolated", "invert": false])
            }),
        ]
        for (expected, load) in cases {
            let message = Self.refusal(load)
            #expect(message?.contains(expected) == true, "\(message ?? "loaded") should contain \(expected)")
        }
    }
}
