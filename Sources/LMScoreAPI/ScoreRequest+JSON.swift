import Foundation
import LMScoreEngine
import LMScoreTokenizer

/// A decoded `/score` (or `lmscore score`) request: what to score, plus output options that only
/// shape the JSON (the engine never sees them).
public struct ScoreCall: Sendable, Equatable {
    public var request: ScoringRequest
    /// Add `probs` = exp(logprob) per position.
    public var includeProbabilities: Bool
    /// Add each token's text (`tokens`) and where it starts in the row's text (`text_offset`).
    public var returnTokens: Bool
    /// The rows came as `texts`: each result row then says which ids were scored (`token_ids`, a BOS
    /// included), since the client never saw them.
    public var fromTexts: Bool
    /// For rows from `texts`: each text's bytes and words, for lm-eval's per-text metrics
    /// (`bits_per_byte`, `byte_perplexity`, `word_perplexity`); empty otherwise.
    public var textSizes: [TextSize]
    /// `reference`: the served model to compare with (the model is the body's `model`, or the first
    /// served); its scores and the comparisons are added (ScoreResponse+Comparison.swift).
    public var reference: String? = nil

    public init(request: ScoringRequest, includeProbabilities: Bool = false, returnTokens: Bool = false, fromTexts: Bool = false,
                textSizes: [TextSize] = []) {
        self.request = request
        self.includeProbabilities = includeProbabilities
        self.returnTokens = returnTokens
        self.fromTexts = fromTexts
        self.textSizes = textSizes
    }
}

extension ScoreCall {
    static let knownFields: Set<String> = [
        "sequences", "texts", "inputs", "targets", "choices", "top_k", "probabilities", "window", "return_tokens", "allow_special",
        "add_bos", "model", "reference", "statistics",
    ]

    /// Parses and validates a request body. Throws 400 for malformed JSON, 422 (with `param`, the
    /// JSON path) for anything JSON but wrong: unknown fields, wrong types, ids out of range, rows too long…
    ///
    /// Schema: exactly one of `sequences: [[int]]`, `texts: [string]` (tokenized, then scored as
    /// sequences), `inputs: [[int]]` + `targets: [[int]]`, or
    /// `choices: [{"context": [int], "continuations": [[int]]}]`; optional `top_k: int`,
    /// `probabilities: bool`, `window: {"stride": int}` and `return_tokens: bool` (sequences and texts),
    /// `allow_special: bool` (texts: special tokens' text is read as those tokens, default true),
    /// `add_bos: bool` (texts: put the tokenizer's BOS first, default the tokenizer's own choice).
    /// `servedModel`: the name a `model` field must give (nil: any string).
    public static func decode(_ data: Data, config: ModelConfig, tokenizer: (any TextTokenizer)? = nil,
                              servedModel: String? = nil) throws(APIError) -> ScoreCall {
        let body = try JSONReader.object(JSONReader.parse(data), at: "", known: knownFields)
        let vocab = config.vocabSize
        func present(_ key: String) -> Any? { body[key].flatMap { JSONReader.isNull($0) ? nil : $0 } }

        var allowSpecial = true   // only `texts` reads it
        if let value = present("allow_special") { allowSpecial = try JSONReader.bool(value, at: "allow_special") }
        var addBOS: Bool? = nil
        if let value = present("add_bos") {
            guard present("texts") != nil else { throw .invalid("add_bos", "`add_bos` applies to `texts`") }
            addBOS = try JSONReader.bool(value, at: "add_bos")
        }
        let rows = try readRows(present, vocabSize: vocab, tokenizer: tokenizer, allowSpecial: allowSpecial, addBOS: addBOS)

        var topK = 0
        if let value = present("top_k") {
            topK = Int(clamping: try JSONReader.integer(value, at: "top_k"))
        }
        var includeProbabilities = false
        if let value = present("probabilities") { includeProbabilities = try JSONReader.bool(value, at: "probabilities") }
        var stride: Int?
        if let value = present("window") {
            guard case .sequences = rows else {
                throw .invalid("window", "`window` applies to `sequences`; inputs/targets rows and choices must fit n_positions")
            }
            let window = try JSONReader.object(value, at: "window", known: ["stride"])
            if let strideValue = window["stride"], !JSONReader.isNull(strideValue) {
                stride = Int(clamping: try JSONReader.integer(strideValue, at: "window.stride"))
            }
        }

        var returnTokens = false
        if let value = present("return_tokens") {
            returnTokens = try JSONReader.bool(value, at: "return_tokens")
            if returnTokens {
                guard case .sequences = rows else {
                    throw .invalid("return_tokens", "`return_tokens` applies to `sequences` and `texts`")
                }
            }
            if returnTokens && tokenizer == nil { throw .noTokenizer("return_tokens") }
        }

        var request = ScoringRequest(rows: rows, topK: topK, stride: stride)
        if let value = present("statistics") { request.statistics = try StatisticsField.read(value) }
        do { try request.validate(for: config) } catch { throw APIError(error) }
        // `model` picked this model (Endpoint.Catalog); it must name it.
        try ServedModel.check(present("model"), served: servedModel)
        let reference = try present("reference").map { value throws(APIError) in try JSONReader.string(value, at: "reference") }
        // The texts were read (and checked to be strings) with the rows.
        let texts = (present("texts") as? [Any])?.compactMap { $0 as? String } ?? []
        var call = ScoreCall(request: request, includeProbabilities: includeProbabilities, returnTokens: returnTokens,
                             fromTexts: present("texts") != nil, textSizes: texts.map(TextSize.init))
        call.reference = reference
        return call
    }

    /// The one form the body uses: `sequences`, `texts`, `inputs` + `targets` or `choices`.
    static func readRows(_ present: (String) -> Any?, vocabSize vocab: Int, tokenizer: (any TextTokenizer)?,
                         allowSpecial: Bool, addBOS: Bool?) throws(APIError) -> ScoringRequest.Rows {
        let forms = ["sequences", "texts", "inputs", "choices"].filter { present($0) != nil }
        guard forms.count <= 1 else {
            throw .invalid(forms[0], "give one of `sequences`, `texts`, `inputs` + `targets` or `choices`, not `\(forms[0])` and `\(forms[1])`")
        }
        if present("targets") != nil, let form = forms.first, form != "inputs" {
            throw .invalid("targets", "`targets` goes with `inputs`, not with `\(form)`")
        }
        switch forms.first {
        case "sequences":
            return .sequences(try JSONReader.tokenRows(present("sequences")!, at: "sequences", vocabSize: vocab, allowIgnored: false))
        case "texts":
            guard let tokenizer else { throw .noTokenizer("texts") }
            let bos = try beginningOfSequence(tokenizer, addBOS: addBOS, param: "add_bos")
            return .sequences(try tokenizedTexts(present("texts")!, tokenizer: tokenizer, allowSpecial: allowSpecial, bos: bos))
        case "inputs":
            guard let targets = present("targets") else {
                throw .invalid("targets", "`inputs` needs `targets` (the same rows shifted by one)", code: "missing_field")
            }
            return .inputsTargets(
                inputs: try JSONReader.tokenRows(present("inputs")!, at: "inputs", vocabSize: vocab, allowIgnored: false),
                targets: try JSONReader.tokenRows(targets, at: "targets", vocabSize: vocab, allowIgnored: true))
        case "choices":
            return .choices(try choiceGroups(present("choices")!, vocabSize: vocab))
        default:
            if present("targets") != nil { throw .invalid("inputs", "`targets` needs `inputs`", code: "missing_field") }
            throw .invalid("sequences", "give one of `sequences`, `texts`, `inputs` + `targets` or `choices`", code: "missing_field")
        }
    }

    /// The BOS id to put before each text: asked for (`add_bos`), or the tokenizer's default; nil for none.
    /// Asking for one from a tokenizer that has none is a 422 at `param`.
    static func beginningOfSequence(_ tokenizer: any TextTokenizer, addBOS: Bool?, param: String) throws(APIError) -> Int32? {
        guard addBOS ?? tokenizer.addsBeginningOfSequence else { return nil }
        guard let bos = tokenizer.beginningOfSequence else {
            throw .invalid(param, "this model's tokenizer has no BOS token")
        }
        return bos
    }

    /// `texts: [string]` → token rows, each after `bos` if given (the text's first token is then scored);
    /// a text that encodes to no tokens is refused at its path.
    static func tokenizedTexts(_ value: Any, tokenizer: any TextTokenizer, allowSpecial: Bool, bos: Int32?) throws(APIError) -> [[Int32]] {
        let items = try JSONReader.array(value, at: "texts")
        guard !items.isEmpty else { throw .invalid("texts", "at least one text is required") }
        var rows: [[Int32]] = []
        for (i, item) in items.enumerated() {
            let ids = tokenizer.encode(try JSONReader.string(item, at: "texts[\(i)]"), allowSpecial: allowSpecial)
            guard !ids.isEmpty else { throw .invalid("texts[\(i)]", "the text is empty: it encodes to no tokens") }
            rows.append(bos.map { [$0] + ids } ?? ids)
        }
        return rows
    }

    /// `[{"context": [int], "continuations": [[int]]}]`
    static func choiceGroups(_ value: Any, vocabSize: Int) throws(APIError) -> [ChoiceGroup] {
        var groups: [ChoiceGroup] = []
        for (g, item) in try JSONReader.array(value, at: "choices").enumerated() {
            let path = "choices[\(g)]"
            let object = try JSONReader.object(item, at: path, known: ["context", "continuations"])
            func field(_ key: String) throws(APIError) -> Any {
                guard let value = object[key], !JSONReader.isNull(value) else {
                    throw .invalid("\(path).\(key)", "`\(key)` is required", code: "missing_field")
                }
                return value
            }
            groups.append(ChoiceGroup(
                context: try JSONReader.tokenRow(try field("context"), at: "\(path).context", vocabSize: vocabSize, allowIgnored: false),
                continuations: try JSONReader.tokenRows(try field("continuations"), at: "\(path).continuations",
                                                        vocabSize: vocabSize, allowIgnored: false)))
        }
        return groups
    }
}
