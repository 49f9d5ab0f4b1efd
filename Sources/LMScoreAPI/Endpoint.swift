import Foundation
import LMScoreEngine
import LMScoreTokenizer

/// The JSON routes that take a POST body, and the one path from a body to the answer's body that the
/// HTTP server and `lmscore batch` share: `decode` parses and validates (same decoders, same errors),
/// the caller runs `EndpointCall.scoring` through its own batching, and `EndpointCall.responseBody`
/// writes exactly the JSON the endpoint answers.
public enum Endpoint: String, CaseIterable, Sendable {
    case score = "/score"
    case completions = "/v1/completions"
    case tokenize = "/tokenize"
    case detokenize = "/detokenize"

    /// The route at `path`, nil for any other path.
    public init?(path: String) { self.init(rawValue: path) }

    /// What stays the same across a run's answers: the model and how `/v1/completions` names them.
    public struct Context: Sendable {
        public let modelName: String
        public let config: ModelConfig
        public let tokenizer: (any TextTokenizer)?
        /// Makes `/v1/completions`' `id` (`cmpl-…`) and `created`. The server's default: a random id and the
        /// current time, as OpenAI's; `lmscore batch` derives both from the line so reruns write the same bytes.
        public let completionIdentity: @Sendable () -> (id: String, created: Date)

        public init(modelName: String, config: ModelConfig, tokenizer: (any TextTokenizer)?,
                    completionIdentity: @escaping @Sendable () -> (id: String, created: Date) = CompletionsResponse.freshIdentity) {
            self.modelName = modelName
            self.config = config
            self.tokenizer = tokenizer
            self.completionIdentity = completionIdentity
        }
    }

    /// Decodes and validates `body` for this route with the one model of `context`; throws the 4xx
    /// `APIError` the endpoint answers.
    public func decode(_ body: Data, context: Context) throws(APIError) -> EndpointCall {
        try decode(body, catalog: Catalog(models: [context]))
    }

    /// Decodes and validates `body` for this route with the model its `model` field names (default:
    /// the catalog's first), and for `/score` the `reference` it compares with (Endpoint+Catalog.swift).
    public func decode(_ body: Data, catalog: Catalog) throws(APIError) -> EndpointCall {
        let context = try catalog.model(for: body)
        let tokenizer = context.tokenizer
        switch self {
        case .score:
            let call = try ScoreCall.decode(body, config: context.config, tokenizer: tokenizer, servedModel: context.modelName)
            let reference = try call.reference.map { name throws(APIError) in try catalog.reference(name, for: context, request: call.request) }
            return EndpointCall(scoring: call.request, model: context.modelName, reference: reference?.modelName) { result in
                ScoreResponse(model: context.modelName, result: result!, call: call, tokenizer: tokenizer).jsonData()
            }
        case .completions:
            let call = try CompletionsCall.decode(body, config: context.config, modelName: context.modelName, tokenizer: tokenizer)
            // Token ids decode without a tokenizer, but the answer's token strings need one.
            guard let tokenizer else { throw .noTokenizer("prompt") }
            return EndpointCall(scoring: call.request, model: context.modelName) { result in
                let (id, created) = context.completionIdentity()
                return CompletionsResponse(call: call, result: result!, model: context.modelName, tokenizer: tokenizer,
                                           id: id, created: created).jsonData()
            }
        case .tokenize:
            let call = try TokenizeCall.decode(body, servedModel: context.modelName)
            guard let tokenizer else { throw .noTokenizer(call.single ? "text" : "texts") }
            let answer = try call.respond(tokenizer: tokenizer, contextLength: context.config.nPositions)
            return EndpointCall(scoring: nil) { _ in answer }
        case .detokenize:
            let call = try DetokenizeCall.decode(body, vocabSize: context.config.vocabSize, servedModel: context.modelName)
            guard let tokenizer else { throw .noTokenizer("tokens") }
            let answer = try call.respond(tokenizer: tokenizer)
            return EndpointCall(scoring: nil) { _ in answer }
        }
    }
}

/// A decoded, valid request of one `Endpoint`: what the engine must score (nil: no model work, the
/// answer is ready) and how its result becomes the 200 body.
public struct EndpointCall: Sendable {
    public let scoring: ScoringRequest?
    /// The served model that scores it, and the one it is compared with (`/score`'s `reference`).
    public let model: String?
    public let reference: String?
    private let encode: @Sendable (ScoringResult?) -> Data

    init(scoring: ScoringRequest?, model: String? = nil, reference: String? = nil, encode: @escaping @Sendable (ScoringResult?) -> Data) {
        self.scoring = scoring
        self.model = model
        self.reference = reference
        self.encode = encode
    }

    /// The 200 body; `result` is the engine's answer to `scoring` (nil when `scoring` is nil).
    public func responseBody(_ result: ScoringResult?) -> Data {
        precondition((result == nil) == (scoring == nil), "a scored call needs its result, an unscored one none")
        return encode(result)
    }
}
