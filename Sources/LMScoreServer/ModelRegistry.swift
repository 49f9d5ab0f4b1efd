import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer

/// The models a server serves (`lmscore serve --model NAME=PATH --model …`), loaded in order, the
/// first being every endpoint's default: each with its tokenizer and `Scorer`, the `Endpoint.Catalog`
/// the request decoders pick them from, and the memory their weights take together.
struct ModelRegistry: Sendable {
    struct Entry: Sendable {
        let name: String
        let model: DecoderModel
        /// The model's tokenizer (GPT-2 ranks, tokenizer.json or GGUF vocabulary); nil: token ids only.
        let tokenizer: (any TextTokenizer)?
        let scorer: Scorer

        /// Bytes of weights: mapped from the checkpoint files and copied (converted) at load.
        var weightBytes: Int { model.summary.mappedBytes + model.summary.copiedBytes }

        var endpointContext: Endpoint.Context {
            Endpoint.Context(modelName: name, config: model.config, tokenizer: tokenizer)
        }
    }

    let entries: [Entry]
    let catalog: Endpoint.Catalog

    var first: Entry { entries[0] }
    /// Σ weight bytes over every served model.
    var weightBytes: Int { entries.reduce(0) { $0 + $1.weightBytes } }

    /// Loads every entry (model, then tokenizer) in order; two models under one name are refused.
    /// `prefixCacheBytes`: each model's prefix cache budget (0: none).
    static func load(_ entries: [ServerSettings.ModelEntry], loadModel: (String) throws -> DecoderModel, fallbackRanks: URL?,
                     maxBatchTokens: Int, prefixCacheBytes: Int = 0) throws -> ModelRegistry {
        var loaded: [Entry] = []
        for entry in entries {
            let model = try loadModel(entry.path)
            let name = entry.name ?? model.name
            guard !loaded.contains(where: { $0.name == name }) else {
                throw LoadError(description: "two models are named `\(name)`: name them with --model NAME=PATH")
            }
            let tokenizer = try TokenizerLookup.load(modelDirectory: URL(fileURLWithPath: entry.path), vocabSize: model.config.vocabSize,
                                                     fallback: fallbackRanks)
            loaded.append(Entry(name: name, model: model, tokenizer: tokenizer,
                                scorer: Scorer(model: model, maxTokensPerForward: maxBatchTokens, prefixCacheBytes: prefixCacheBytes)))
        }
        return ModelRegistry(entries: loaded, catalog: Endpoint.Catalog(models: loaded.map(\.endpointContext)))
    }

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }
}
