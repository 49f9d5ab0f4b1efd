import Foundation
import LMScoreEngine
import LMScoreTokenizer

/// `POST /v1/completions`, the scoring subset of OpenAI's legacy Completions API: the "echo" idiom
/// evaluation tools use to score prompts (`echo: true`, `logprobs: k`, `max_tokens: 0`), and
/// `max_tokens: 1`, which appends the model's greedy next token with its log-probability (lm-eval's
/// `local-completions` sends exactly this and slices that token off). lmscore scores; it does not
/// sample text, so `max_tokens` > 1, `stream`, `n` > 1 and anything that only shapes sampling beyond
/// the first greedy token are refused with a 422 saying so.
public struct CompletionsCall: Sendable {
    /// Each prompt's token ids and, when it came as a string, its text.
    public var prompts: [[Int32]]
    public var promptTexts: [String?]
    public var echo: Bool
    /// How many alternatives per position in `top_logprobs`; nil: no `logprobs` object at all.
    public var logprobs: Int?
    /// 0 or 1.
    public var maxTokens: Int
    /// OpenAI's `stop`: text after which the completion is cut (`finish_reason: "stop"`).
    public var stop: [String] = []
    /// lmscore's `statistics`: `entropy` / `rank` lists in the `logprobs` object, aligned with `token_logprobs`.
    public var statistics: PositionStatistics = []

    /// What the engine scores: every prompt as a sequence, plus the greedy next token for max_tokens 1.
    /// Prompts that start alike (lm-eval sends a question's context once per answer) read their common
    /// prefix once, like `/score`'s `choices`.
    public var request: ScoringRequest {
        ScoringRequest(rows: .sequences(prompts), topK: logprobs ?? 0, nextToken: maxTokens == 1,
                       sharedPrefixMinimum: Self.sharedPrefixMinimum, statistics: statistics)
    }

    /// Prompts sharing at least this many leading tokens share the forward pass over them.
    static let sharedPrefixMinimum = 8

    static let knownFields: Set<String> = [
        "model", "prompt", "echo", "logprobs", "max_tokens", "temperature", "top_p", "n", "best_of", "stream",
        "stream_options", "stop", "seed", "user", "presence_penalty", "frequency_penalty", "logit_bias", "suffix", "statistics",
    ]

    /// OpenAI's default `max_tokens`: a request that leaves it out asks for 16 generated tokens.
    static let openAIDefaultMaxTokens = 16

    /// `tokenizer` nil: a model without one; string prompts are then refused (`tokenizer_unavailable`).
    public static func decode(_ data: Data, config: ModelConfig, modelName: String, tokenizer: (any TextTokenizer)?) throws(APIError) -> CompletionsCall {
        let body = try JSONReader.object(JSONReader.parse(data), at: "", known: knownFields)
        func present(_ key: String) -> Any? { body[key].flatMap { JSONReader.isNull($0) ? nil : $0 } }
        func notScoring(_ param: String, _ message: String) -> APIError {
            .invalid(param, message + " (lmscore scores text; it does not generate it)", code: "unsupported_value")
        }

        try ServedModel.check(present("model"), served: modelName)
        guard let promptValue = present("prompt") else {
            throw .invalid("prompt", "`prompt` is required: a string, an array of strings, an array of token ids or an array of such arrays",
                           code: "missing_field")
        }
        var call = CompletionsCall(prompts: [], promptTexts: [], echo: false, logprobs: nil, maxTokens: openAIDefaultMaxTokens)
        try call.readPrompts(promptValue, vocabSize: config.vocabSize, tokenizer: tokenizer)

        if let value = present("echo") { call.echo = try JSONReader.bool(value, at: "echo") }
        if let value = present("logprobs") {
            let k = try JSONReader.integer(value, at: "logprobs")
            guard (0...Int64(ScoringRequest.maxTopK)).contains(k) else {
                throw .invalid("logprobs", "logprobs must be between 0 and \(ScoringRequest.maxTopK), got \(k)")
            }
            call.logprobs = Int(k)
        }
        if let value = present("max_tokens") { call.maxTokens = Int(clamping: try JSONReader.integer(value, at: "max_tokens")) }
        guard call.maxTokens >= 0 else { throw .invalid("max_tokens", "max_tokens must be 0 or 1, got \(call.maxTokens)") }
        guard call.maxTokens <= 1 else {
            let given = present("max_tokens") == nil ? "max_tokens defaults to 16 in the OpenAI API" : "max_tokens is \(call.maxTokens)"
            throw notScoring("max_tokens", "\(given); lmscore appends at most the one greedy next token: send max_tokens 0 or 1")
        }
        guard call.echo || call.maxTokens == 1 else {
            throw notScoring("echo", "echo false with max_tokens 0 asks for nothing; send echo: true to score the prompt")
        }
        if let value = present("stream"), try JSONReader.bool(value, at: "stream") {
            throw notScoring("stream", "stream: true is not supported")
        }
        for key in ["n", "best_of"] {
            if let value = present(key) {
                let n = try JSONReader.integer(value, at: key)
                guard n >= 1 else { throw .invalid(key, "\(key) must be at least 1, got \(n)") }
                guard n == 1 else { throw notScoring(key, "\(key) must be 1") }
            }
        }
        if let value = present("temperature") {
            let t = try JSONReader.number(value, at: "temperature")
            guard (0...2).contains(t) else { throw .invalid("temperature", "temperature must be between 0 and 2, got \(t)") }
        }
        if let value = present("top_p") {
            let p = try JSONReader.number(value, at: "top_p")
            guard p > 0 && p <= 1 else { throw .invalid("top_p", "top_p must be in (0, 1], got \(p)") }
        }
        for key in ["presence_penalty", "frequency_penalty"] {
            if let value = present(key), try JSONReader.number(value, at: key) != 0 {
                throw notScoring(key, "\(key) must be 0: penalties would change the greedy token")
            }
        }
        if let value = present("logit_bias") {
            guard let bias = value as? [String: Any] else {
                throw .invalid("logit_bias", "expected an object, got \(JSONReader.typeName(value))", code: "invalid_type")
            }
            if !bias.isEmpty { throw notScoring("logit_bias", "logit_bias is not supported: it would change the greedy token") }
        }
        if let value = present("suffix"), try JSONReader.string(value, at: "suffix") != "" {
            throw notScoring("suffix", "suffix is not supported")
        }
        if present("stream_options") != nil { throw notScoring("stream_options", "stream_options needs stream, which is not supported") }
        if let value = present("stop") {
            if let single = value as? String {
                call.stop = [single]
            } else {
                for (i, item) in try JSONReader.array(value, at: "stop").enumerated() {
                    call.stop.append(try JSONReader.string(item, at: "stop[\(i)]"))
                }
            }
            call.stop.removeAll { $0.isEmpty }
        }
        if let value = present("statistics") {
            call.statistics = try StatisticsField.read(value)
            guard call.statistics.isEmpty || call.logprobs != nil else {
                throw .invalid("statistics", "`statistics` are reported in the `logprobs` object: send `logprobs` (0 or more) with them")
            }
        }
        if let value = present("seed") { _ = try JSONReader.integer(value, at: "seed") }
        if let value = present("user") { _ = try JSONReader.string(value, at: "user") }

        for (i, prompt) in call.prompts.enumerated() where prompt.count + call.maxTokens > config.nPositions {
            throw APIError(status: 422, type: "invalid_request_error", code: "context_length_exceeded",
                           message: "this model's maximum context length is \(config.nPositions) tokens, but prompt \(i) asks for "
                               + "\(prompt.count + call.maxTokens) (\(prompt.count) in the prompt, \(call.maxTokens) for the completion)",
                           param: call.prompts.count == 1 ? "prompt" : "prompt[\(i)]")
        }
        return call
    }

    /// `prompt`: a string, [string], [int] or [[int]].
    /// A text prompt gets the tokenizer's BOS when it adds one by default (Llama's `<s>`), as vLLM does.
    private mutating func readPrompts(_ value: Any, vocabSize: Int, tokenizer: (any TextTokenizer)?) throws(APIError) {
        func text(_ string: String, at path: String) throws(APIError) {
            guard let tokenizer else { throw .noTokenizer(path) }
            let ids = tokenizer.encode(string, allowSpecial: true)
            guard !ids.isEmpty else { throw .invalid(path, "the prompt is empty: it encodes to no tokens") }
            let bos = tokenizer.addsBeginningOfSequence ? tokenizer.beginningOfSequence : nil
            prompts.append(bos.map { [$0] + ids } ?? ids)
            promptTexts.append(string)
        }
        // `path` is only built for an error: a million one-token prompts would otherwise format a million paths.
        func ids(_ row: [Int32], at path: @autoclosure () -> String) throws(APIError) {
            guard !row.isEmpty else { throw .invalid(path(), "a prompt must hold at least one token") }
            for (t, id) in row.enumerated() where id < 0 || Int(id) >= vocabSize {
                throw .invalid("\(path())[\(t)]", "token id \(id) is out of range: expected [0, \(vocabSize))")
            }
            prompts.append(row)
            promptTexts.append(nil)
        }
        if let string = value as? String { return try text(string, at: "prompt") }
        let items = try JSONReader.array(value, at: "prompt")
        guard let first = items.first else { throw .invalid("prompt", "the prompt list is empty") }
        switch first {
        case is String:
            for (i, item) in items.enumerated() { try text(try JSONReader.string(item, at: "prompt[\(i)]"), at: "prompt[\(i)]") }
        case is [Any]:
            for (i, item) in items.enumerated() {
                try ids(try JSONReader.tokenRow(item, at: "prompt[\(i)]", vocabSize: vocabSize, allowIgnored: false), at: "prompt[\(i)]")
            }
        default:
            try ids(try JSONReader.tokenRow(value, at: "prompt", vocabSize: vocabSize, allowIgnored: false), at: "prompt")
        }
    }
}

/// The OpenAI `text_completion` object for a scored `CompletionsCall`, its fields in OpenAI's order.
public struct CompletionsResponse {
    let json: OrderedJSON

    /// OpenAI's identity of a completion: a random `cmpl-` id and the current time.
    public static let freshIdentity: @Sendable () -> (id: String, created: Date) = {
        ("cmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), Date())
    }

    public init(call: CompletionsCall, result: ScoringResult, model: String, tokenizer: any TextTokenizer,
                id: String = CompletionsResponse.freshIdentity().id, created: Date = Date()) {
        let choices: [OrderedJSON] = zip(call.prompts, result.rows).enumerated().map { i, pair in
            let (prompt, row) = pair
            let generated = row.next.map { [$0] } ?? []
            let promptBytes = prompt.map { tokenizer.tokenBytes($0) ?? [] }
            let generatedBytes = generated.map { tokenizer.tokenBytes($0.token) ?? [] }
            let promptText = call.promptTexts[i] ?? String(decoding: promptBytes.joined(), as: UTF8.self)
            var generatedText = String(decoding: generatedBytes.joined(), as: UTF8.self)
            var finishReason = generated.first.map { $0.token == tokenizer.endOfText } == true ? "stop" : "length"
            // A stop sequence in the appended token cuts the text before it, as OpenAI does; the token
            // itself stays in `logprobs` (it was predicted).
            if let cut = call.stop.compactMap({ generatedText.range(of: $0)?.lowerBound }).min() {
                generatedText = String(generatedText[..<cut])
                finishReason = "stop"
            }

            var logprobs = OrderedJSON.null
            if let k = call.logprobs {
                // Positions reported: the prompt's (when echoed), then the generated token.
                let scores: [TokenScore?] = (call.echo ? row.positions : []) + generated.map { Optional($0) }
                let bytes = (call.echo ? promptBytes : []) + generatedBytes
                // Offsets into prompt + completion, as OpenAI counts: without echo they start after the prompt.
                let offsets = TokenText.codePointOffsets(promptBytes + generatedBytes).suffix(bytes.count)
                logprobs = .object([
                    ("tokens", .array(bytes.map { .string(TokenText.string($0)) })),
                    ("token_logprobs", .array(scores.map { $0.map { .double($0.logprob) } ?? .null })),
                ] + Self.statisticsFields(scores, call.statistics) + [
                    // {token: logprob}, most likely first. No two tokens share a text: every GPT-2 token's
                    // bytes are distinct, and `bytes:\xNN` spells those that are not UTF-8.
                    ("top_logprobs", .array(scores.map { score in
                        score.map { .object($0.top.prefix(k).map { (TokenText.string(tokenizer.tokenBytes($0.id) ?? []), .double($0.logprob)) }) } ?? .null
                    })),
                    ("text_offset", .array(offsets.map { .int($0) })),
                ])
            }
            return .object([
                ("text", .string((call.echo ? promptText : "") + generatedText)),
                ("index", .int(i)),
                ("logprobs", logprobs),
                ("finish_reason", .string(finishReason)),
            ])
        }
        let promptTokens = call.prompts.reduce(0) { $0 + $1.count }
        let completionTokens = result.rows.reduce(0) { $0 + ($1.next == nil ? 0 : 1) }
        json = .object([
            ("id", .string(id)),
            ("object", .string("text_completion")),
            ("created", .int(Int(created.timeIntervalSince1970))),
            ("model", .string(model)),
            ("choices", .array(choices)),
            ("usage", .object([
                ("prompt_tokens", .int(promptTokens)),
                ("completion_tokens", .int(completionTokens)),
                ("total_tokens", .int(promptTokens + completionTokens)),
            ])),
        ])
    }

    public func jsonData() -> Data { json.data }

    /// `entropy` and `rank` lists aligned with `token_logprobs`, as asked for.
    private static func statisticsFields(_ scores: [TokenScore?], _ statistics: PositionStatistics) -> [(String, OrderedJSON)] {
        var fields: [(String, OrderedJSON)] = []
        if statistics.contains(.entropy) { fields.append(("entropy", .array(scores.map { $0?.entropy.map { .double($0) } ?? .null }))) }
        if statistics.contains(.rank) { fields.append(("rank", .array(scores.map { $0?.rank.map { .int($0) } ?? .null }))) }
        return fields
    }
}
