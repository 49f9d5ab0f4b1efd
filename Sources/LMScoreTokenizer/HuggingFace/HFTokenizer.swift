import Foundation

/// A Hugging Face `tokenizer.json` (the `tokenizers` library's format: Llama, Mistral, Qwen2/3, SmolLM,
/// GPT-NeoX/Pythia), read by lmscore itself: added tokens → normalizer → pre-tokenizer → BPE, and the
/// decoder back, each component following HF `tokenizers` step for step so that the ids are the ones
/// `tokenizer.encode(text, add_special_tokens=False)` gives. A component or option not implemented
/// here is a load error naming its key (`TokenizerError.unsupported`), never different ids.
///
/// Immutable after loading: share one between threads.
public struct HFTokenizer: Sendable {
    public static let fileName = "tokenizer.json"
    public static let configFileName = "tokenizer_config.json"

    let addedTokens: AddedTokens
    let normalizer: HFNormalizer?
    let preTokenizer: HFPreTokenizer?
    let model: BPEModel
    let decoder: HFDecoder?

    /// `tokenizer.json`, or `gguf` for a vocabulary read from a GGUF file.
    public let formatName: String
    public let vocabularySize: Int
    public let beginningOfSequence: Int32?
    public let addsBeginningOfSequence: Bool
    public let endOfText: Int32?

    /// Reads `file` and, if given, the `tokenizer_config.json` beside it (`add_bos_token`, `bos_token`,
    /// `eos_token`); without it, the post-processor decides whether a BOS is added.
    public init(file: URL, config: URL? = nil) throws(TokenizerError) {
        try self.init(json: TokenizerJSON.read(file), settings: config.map { (c) throws(TokenizerError) in try TokenizerJSON.read(c) },
                      formatName: HFTokenizer.fileName)
    }

    /// From a parsed `tokenizer.json` and, if any, `tokenizer_config.json` settings (`add_bos_token`,
    /// `bos_token`, `eos_token`) — read from files, or built from another format's vocabulary (GGUF).
    init(json: TokenizerJSON, settings: TokenizerJSON?, formatName: String) throws(TokenizerError) {
        self.formatName = formatName
        let file = json.file
        if let truncation = json.value("truncation") { throw json.unsupported("truncation", truncation.summary) }
        if let padding = json.value("padding") { throw json.unsupported("padding", padding.summary) }
        guard let modelJSON = try json.object("model") else { throw json.invalid("model", "missing") }
        let modelType = try modelJSON.optionalString("type") ?? "BPE"  // old files omit it
        guard modelType == "BPE" else { throw modelJSON.unsupported("type", modelType) }
        model = try BPEModel(modelJSON)
        let normalizer = try json.object("normalizer").map { (n) throws(TokenizerError) in try HFNormalizer(n) }
        self.normalizer = normalizer
        preTokenizer = try json.object("pre_tokenizer").map { (p) throws(TokenizerError) in try HFPreTokenizer(p) }
        decoder = try json.object("decoder").map { (d) throws(TokenizerError) in try HFDecoder(d) }
        addedTokens = try AddedTokens(json, normalizer: normalizer)
        vocabularySize = max(model.vocabularyCount, Int(addedTokens.tokens.map(\.id).max() ?? -1) + 1)

        let processorBOS = try json.object("post_processor").flatMap { (p) throws(TokenizerError) in try HFPostProcessor.leadingToken(p) }
        var configBOS: Int32? = nil, eos: Int32? = nil, addBOS: Bool? = nil
        if let settings {
            if settings.value("add_bos_token") != nil { addBOS = try settings.bool("add_bos_token", default: false) }
            configBOS = try HFTokenizer.specialTokenID(settings, "bos_token", addedTokens: addedTokens, model: model)
            eos = try HFTokenizer.specialTokenID(settings, "eos_token", addedTokens: addedTokens, model: model)
        }
        beginningOfSequence = processorBOS ?? configBOS
        addsBeginningOfSequence = addBOS ?? (processorBOS != nil)
        if addsBeginningOfSequence && beginningOfSequence == nil {
            throw .invalidTokenizer(settings?.file ?? file, reason: "add_bos_token is true but there is no bos_token")
        }
        endOfText = eos ?? HFTokenizer.specialToken(named: ["<|endoftext|>", "</s>", "<|end_of_text|>"], in: addedTokens)
    }

    /// The first of `names` that is a special added token: the end of a document when
    /// tokenizer_config.json does not say (`eos_token`).
    static func specialToken(named names: [String], in addedTokens: AddedTokens) -> Int32? {
        for name in names {
            if let token = addedTokens.tokens.first(where: { $0.special && $0.text.unicodeScalars.elementsEqual(name.unicodeScalars) }) {
                return token.id
            }
        }
        return nil
    }

    /// `tokenizer.json` in a model directory, if it is there.
    public static func find(inModelDirectory directory: URL) -> URL? {
        existingFile(directory.appendingPathComponent(fileName))
    }

    /// `tokenizer_config.json` beside a `tokenizer.json`, if it is there.
    public static func config(besides file: URL) -> URL? {
        existingFile(file.deletingLastPathComponent().appendingPathComponent(configFileName))
    }

    static func existingFile(_ file: URL) -> URL? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue else { return nil }
        return file
    }

    /// The id of `bos_token`/`eos_token` in tokenizer_config.json (a string, or `{"content": …}`).
    static func specialTokenID(_ settings: TokenizerJSON, _ key: String, addedTokens: AddedTokens, model: BPEModel) throws(TokenizerError) -> Int32? {
        guard let value = settings.value(key) else { return nil }
        let name: String
        if let string = value.stringValue {
            name = string
        } else if case .object = value, let object = try settings.object(key) {
            name = try object.string("content")
        } else {
            throw settings.invalid(key, "expected a string or {\"content\": …}")
        }
        let scalars = Array(name.unicodeScalars)
        if let added = addedTokens.tokens.first(where: { $0.content == scalars }) { return added.id }
        if let id = model.id(of: name) { return id }
        throw settings.invalid(key, "\(name) is not a token of tokenizer.json")
    }
}
