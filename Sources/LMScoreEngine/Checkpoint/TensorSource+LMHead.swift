import Foundation

extension TensorSource {
    /// The LM head [vocab, C]: the token embedding itself when `tie_word_embeddings` is true —
    /// transformers ties them even if the file also stores a head — else the stored matrix `name`,
    /// which an untied config must carry.
    func lmHead(_ config: ModelConfig, tiedTo embedding: WeightMatrix, name: String = "lm_head.weight") throws -> WeightMatrix {
        config.tieWordEmbeddings ? embedding : try matrix(name, [config.vocabSize, config.nEmbd], .projection)
    }
}
