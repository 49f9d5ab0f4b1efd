import Foundation
import LMScoreTokenizer

/// Which GPT-2 ranks file serves a model: the `gpt2.tiktoken` in its own directory, or else — only
/// when the model's vocabulary is GPT-2's 50,257 tokens (e.g. openai-community/gpt2 fetched as just
/// config.json + model.safetensors) — `fallback`, the file shipped with the bundled model.
public enum TokenizerLookup {
    public static let gpt2VocabularySize = 50257

    public static func ranksFile(modelDirectory: URL, vocabSize: Int, fallback: URL?) -> URL? {
        if let own = GPT2Tokenizer.find(inModelDirectory: modelDirectory) { return own }
        return vocabSize == gpt2VocabularySize ? fallback : nil
    }
}
