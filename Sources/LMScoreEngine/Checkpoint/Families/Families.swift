import Foundation

/// A model family: how one `model_type`'s `config.json` keys and tensor names map onto the
/// family-neutral description (`ModelConfig`, one `LayerSpec` per layer). One small file per family,
/// one row per `model_type` in `Families.table`; nothing else in lmscore names a family.
protocol ModelFamily: Sendable {
    /// The `config.json` `model_type` this family reads.
    var modelType: String { get }
    /// The description, or a `CheckpointError` naming the key it cannot run.
    func describe(_ config: ConfigReader) throws -> ModelConfig
    /// The tensors, asked of `source` by name with their shapes.
    func weights<Source: TensorSource>(_ config: ModelConfig, _ source: Source) throws -> DecoderWeights
    /// The `config.json` a Hub checkpoint of this description carries (`make-checkpoint`).
    func jsonObject(_ config: ModelConfig) -> [String: Any]
    /// The name a tensor read as `name` is saved under.
    func savedName(_ name: String, prefixed: Bool) -> String
}

extension ModelFamily {
    func savedName(_ name: String, prefixed: Bool) -> String { name }
}

/// The families lmscore runs: one row per `model_type`.
enum Families {
    static let table: [any ModelFamily] = [
        GPT2Family(),
        LlamaFamily(modelType: "llama", architecture: "LlamaForCausalLM", biases: .attentionBiasKey, mlpBiasKey: true),
        LlamaFamily(modelType: "mistral", architecture: "MistralForCausalLM", biases: .none, window: .everyLayer),
        LlamaFamily(modelType: "qwen2", architecture: "Qwen2ForCausalLM", biases: .queryKeyValueOnly, window: .refused),
        LlamaFamily(modelType: "qwen3", architecture: "Qwen3ForCausalLM", biases: .attentionBiasKey, queryKeyNorm: true, window: .refused),
        GPTNeoXFamily(),
        GemmaFamily(),
        Gemma2Family(),
        Gemma3Family(),
        Phi3Family(),
    ]

    static func family(_ modelType: String) -> (any ModelFamily)? { table.first { $0.modelType == modelType } }

    static var modelTypes: [String] { table.map(\.modelType) }
}

extension ModelConfig {
    /// The keys every config.json of the Llama layout and its relatives (Llama, Qwen, Mistral, Gemma,
    /// Phi-3) carries, as `make-checkpoint` writes them; each family adds its own.
    func hubKeys(architecture: String) -> [String: Any] {
        [
            "model_type": modelType,
            "architectures": [architecture],
            "vocab_size": vocabSize,
            "hidden_size": nEmbd,
            "intermediate_size": nInner,
            "num_hidden_layers": nLayer,
            "num_attention_heads": nHead,
            "num_key_value_heads": nKVHead,
            "max_position_embeddings": maxPositions,
            "rms_norm_eps": norm.epsilon,
            "tie_word_embeddings": tieWordEmbeddings,
            "initializer_range": 0.02,
        ]
    }
}
