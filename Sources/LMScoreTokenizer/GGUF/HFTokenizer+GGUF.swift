import Foundation
import LMScoreGGUF

/// A tokenizer from a GGUF file's metadata (`tokenizer.ggml.*`), as llama.cpp reads it, built on the
/// tokenizer.json machinery: the vocabulary is turned into the components HF's own converters make for
/// the same model (`LlamaConverter` for SentencePiece vocabularies; the published tokenizer.json layouts
/// of Llama 3, Qwen2, GPT-2 and StarCoder/SmolLM for byte-level ones), so a GGUF file and the
/// tokenizer.json it was converted from give the same ids. Checked against llama.cpp's vocabulary tests
/// (`Scripts/check_hf_tokenizers.sh`, which runs the .gguf files directly).
///
/// - `tokenizer.ggml.model` `llama` (SentencePiece BPE): merges from the pieces' `scores` (each piece's
///   splits into two pieces, highest score first, as HF's `SentencePieceExtractor`), byte fallback,
///   `add_space_prefix` (default true) as a `▁` prepended, spaces as `▁`.
/// - `gpt2` (byte-level BPE): `tokenizer.ggml.merges`, the pre-tokenizer `tokenizer.ggml.pre` names:
///   `llama-bpe`/`llama3`/`llama-v3` (Llama 3's split, merges ignored for whole-vocabulary words),
///   `qwen2` (NFC, Qwen2's split), `gpt-2`/`mpt` (GPT-2's), `starcoder`/`smollm`/`refact`/`command-r` (single
///   digits, then GPT-2's). Others are refused by name.
/// - Token types: control (3) tokens are special added tokens (and unknown (2) ones for `llama`),
///   user-defined (4) tokens are plain added tokens; `bos_token_id`, `eos_token_id`, `add_bos_token`.
extension HFTokenizer {
    public init(gguf file: GGUFFile) throws(TokenizerError) {
        let url = URL(fileURLWithPath: file.path)
        let vocabulary = try GGUFVocabulary(file, url: url)
        try self.init(json: TokenizerJSON(node: vocabulary.tokenizerJSON(), path: "", file: url),
                      settings: TokenizerJSON(node: vocabulary.settingsJSON(), path: "", file: url), formatName: "gguf")
    }

    /// Whether the GGUF file holds a vocabulary (`tokenizer.ggml.model`).
    public static func hasVocabulary(_ file: GGUFFile) -> Bool { file["tokenizer.ggml.model"] != nil }
}

/// The `tokenizer.ggml.*` keys of a GGUF file, checked, and the tokenizer.json they amount to.
struct GGUFVocabulary {
    enum Kind { case sentencePiece, byteLevel(pre: String) }

    let kind: Kind
    let tokens: [String]
    let types: [Int]
    let scores: [Double]
    let merges: [String]
    let bos: Int?
    let eos: Int?
    let unknown: Int?
    let addBOS: Bool
    let addSpacePrefix: Bool

    static let control = 3, userDefined = 4, unknownType = 2

    static let llama3Split = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Split = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init(_ file: GGUFFile, url: URL) throws(TokenizerError) {
        func invalid(_ key: String, _ reason: String) -> TokenizerError { .invalidTokenizer(url, reason: "\(key): \(reason)") }
        func strings(_ key: String) throws(TokenizerError) -> [String] {
            guard let items = file[key]?.array else { throw invalid(key, "missing, or not an array") }
            var out: [String] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard let s = item.string else { throw invalid("\(key)[\(i)]", "expected a string") }
                out.append(s)
            }
            return out
        }
        func id(_ key: String, count: Int) throws(TokenizerError) -> Int? {
            guard let value = file[key] else { return nil }
            guard let id = value.integer, id >= 0, id < count else { throw invalid(key, "\(value) is not a token id") }
            return id
        }

        guard let model = file["tokenizer.ggml.model"]?.string else { throw invalid("tokenizer.ggml.model", "missing: the file holds no vocabulary") }
        let pre = file["tokenizer.ggml.pre"]?.string
        switch model {
        case "llama": kind = .sentencePiece
        case "gpt2":
            let supported = ["llama-bpe", "llama3", "llama-v3", "qwen2", "gpt-2", "mpt", "starcoder", "smollm", "refact", "command-r"]
            guard let pre, supported.contains(pre) else {
                throw .unsupported(url, key: "tokenizer.ggml.pre", value: "\(pre ?? "(absent: llama.cpp's \"default\")"); lmscore reads \(supported.joined(separator: ", "))")
            }
            kind = .byteLevel(pre: pre)
        default:
            throw .unsupported(url, key: "tokenizer.ggml.model", value: "\(model); lmscore reads llama (SentencePiece) and gpt2 (byte-level BPE)")
        }
        tokens = try strings("tokenizer.ggml.tokens")
        guard !tokens.isEmpty, tokens.count < 1 << 24 else { throw invalid("tokenizer.ggml.tokens", "\(tokens.count) tokens") }
        if let typeValues = file["tokenizer.ggml.token_type"]?.array {
            guard typeValues.count == tokens.count else {
                throw invalid("tokenizer.ggml.token_type", "\(typeValues.count) types for \(tokens.count) tokens")
            }
            types = typeValues.map { $0.integer ?? 1 }
        } else {
            types = Array(repeating: 1, count: tokens.count)
        }
        switch kind {
        case .sentencePiece:
            guard let scoreValues = file["tokenizer.ggml.scores"]?.array, scoreValues.count == tokens.count else {
                throw invalid("tokenizer.ggml.scores", "missing, or not one score per token")
            }
            scores = scoreValues.map { $0.double ?? 0 }
            merges = []
        case .byteLevel:
            scores = []
            // A vocabulary without merges (every token a single byte or an added token): the converter
            // then writes no key at all.
            merges = file["tokenizer.ggml.merges"] == nil ? [] : try strings("tokenizer.ggml.merges")
        }
        bos = try id("tokenizer.ggml.bos_token_id", count: tokens.count)
        eos = try id("tokenizer.ggml.eos_token_id", count: tokens.count)
        unknown = try id("tokenizer.ggml.unknown_token_id", count: tokens.count)
        // llama.cpp's defaults: a SentencePiece vocabulary adds its BOS and a space prefix.
        let isSentencePiece = if case .sentencePiece = kind { true } else { false }
        addBOS = file["tokenizer.ggml.add_bos_token"]?.bool ?? isSentencePiece
        addSpacePrefix = file["tokenizer.ggml.add_space_prefix"]?.bool ?? isSentencePiece
        if addBOS && bos == nil { throw invalid("tokenizer.ggml.add_bos_token", "true, but there is no tokenizer.ggml.bos_token_id") }
    }

    /// The tokenizer.json HF's converters write for this vocabulary.
    func tokenizerJSON() -> JSONValue {
        func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(members.map { JSONMember(key: $0.0, value: $0.1) }) }
        func regexSplit(_ regex: String) -> JSONValue {
            object([("type", .string("Split")), ("pattern", object([("Regex", .string(regex))])),
                    ("behavior", .string("Isolated")), ("invert", .bool(false))])
        }
        func byteLevel(useRegex: Bool) -> JSONValue {
            object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
                    ("use_regex", .bool(useRegex))])
        }
        let vocab = JSONValue.object(tokens.enumerated().map { JSONMember(key: $1, value: .number(Double($0))) })
        var members: [(String, JSONValue)] = []
        var special: [Int] = []
        switch kind {
        case .sentencePiece:
            var model: [(String, JSONValue)] = [("type", .string("BPE")), ("vocab", vocab),
                                                ("merges", .array(sentencePieceMerges().map { .array([.string($0.0), .string($0.1)]) })),
                                                ("fuse_unk", .bool(true)), ("byte_fallback", .bool(true))]
            if let unknown { model.append(("unk_token", .string(tokens[unknown]))) }
            members.append(("model", object(model)))
            var normalizers: [JSONValue] = []
            if addSpacePrefix { normalizers.append(object([("type", .string("Prepend")), ("prepend", .string("▁"))])) }
            normalizers.append(object([("type", .string("Replace")), ("pattern", object([("String", .string(" "))])), ("content", .string("▁"))]))
            members.append(("normalizer", object([("type", .string("Sequence")), ("normalizers", .array(normalizers))])))
            var decoders: [JSONValue] = [
                object([("type", .string("Replace")), ("pattern", object([("String", .string("▁"))])), ("content", .string(" "))]),
                object([("type", .string("ByteFallback"))]), object([("type", .string("Fuse"))]),
            ]
            if addSpacePrefix {
                decoders.append(object([("type", .string("Strip")), ("content", .string(" ")), ("start", .number(1)), ("stop", .number(0))]))
            }
            members.append(("decoder", object([("type", .string("Sequence")), ("decoders", .array(decoders))])))
            special = types.indices.filter { types[$0] == Self.control || types[$0] == Self.unknownType }
        case .byteLevel(let pre):
            members.append(("model", object([("type", .string("BPE")), ("vocab", vocab), ("merges", .array(merges.map { .string($0) })),
                                              ("ignore_merges", .bool(["llama-bpe", "llama3", "llama-v3"].contains(pre)))])))
            switch pre {
            case "llama-bpe", "llama3", "llama-v3":
                members.append(("pre_tokenizer", object([("type", .string("Sequence")),
                                                         ("pretokenizers", .array([regexSplit(Self.llama3Split), byteLevel(useRegex: false)]))])))
            case "qwen2":
                members.append(("normalizer", object([("type", .string("NFC"))])))
                members.append(("pre_tokenizer", object([("type", .string("Sequence")),
                                                         ("pretokenizers", .array([regexSplit(Self.qwen2Split), byteLevel(useRegex: false)]))])))
            case "starcoder", "smollm", "refact", "command-r":
                members.append(("pre_tokenizer", object([("type", .string("Sequence")), ("pretokenizers", .array([
                    object([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel(useRegex: true)]))])))
            default:  // gpt-2, mpt
                members.append(("pre_tokenizer", byteLevel(useRegex: true)))
            }
            members.append(("decoder", object([("type", .string("ByteLevel"))])))
            special = types.indices.filter { types[$0] == Self.control }
        }
        let user = types.indices.filter { types[$0] == Self.userDefined }
        let added = (special.map { ($0, true) } + user.map { ($0, false) }).map { id, isSpecial in
            object([("id", .number(Double(id))), ("content", .string(tokens[id])), ("single_word", .bool(false)),
                    ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(isSpecial))])
        }
        members.append(("added_tokens", .array(added)))
        return object(members)
    }

    /// tokenizer_config.json's part: whether a BOS is added, and which tokens begin and end a text.
    func settingsJSON() -> JSONValue {
        var members = [JSONMember(key: "add_bos_token", value: .bool(addBOS))]
        if let bos { members.append(JSONMember(key: "bos_token", value: .string(tokens[bos]))) }
        if let eos { members.append(JSONMember(key: "eos_token", value: .string(tokens[eos]))) }
        return .object(members)
    }

    /// HF's `SentencePieceExtractor.extract`: every split of every piece into two pieces of the
    /// vocabulary, ordered by the piece's score (highest first), ties in (left id, right id) order.
    func sentencePieceMerges() -> [(String, String)] {
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() { ids[token] = i }   // a repeated piece: its last id, as a Python dict
        var merges: [(left: Int, right: Int, score: Double, order: Int)] = []
        for (piece, score) in zip(tokens, scores) {
            let scalars = Array(piece.unicodeScalars)
            var local: [(Int, Int)] = []
            for cut in 1..<max(scalars.count, 1) {
                let left = String(String.UnicodeScalarView(scalars[..<cut])), right = String(String.UnicodeScalarView(scalars[cut...]))
                if let l = ids[left], let r = ids[right] { local.append((l, r)) }
            }
            local.sort { ($0.0, $0.1) < ($1.0, $1.1) }
            for (l, r) in local { merges.append((l, r, score, merges.count)) }
        }
        // A stable sort by score, highest first (Python's sort is stable).
        merges.sort { $0.score != $1.score ? $0.score > $1.score : $0.order < $1.order }
        return merges.map { (tokens[$0.left], tokens[$0.right]) }
    }
}
