import Foundation
import LMScoreEngine
import LMScoreGGUF
import LMScoreTokenizer

/// Which tokenizer serves a model, looked for in this order:
/// 0. a GGUF model's own vocabulary (`tokenizer.ggml.*` in the file);
/// 1. `gpt2.tiktoken` in its directory (GPT-2's ranks: the fast tiktoken-identical path);
/// 2. `tokenizer.json` in its directory (Hugging Face `tokenizers` format, with the
///    `tokenizer_config.json` beside it if there is one);
/// 3. `fallback`, the ranks file shipped with the bundled model — only when the model's vocabulary is
///    GPT-2's 50,257 tokens (e.g. openai-community/gpt2 fetched as just config.json + model.safetensors).
public enum TokenizerLookup {
    public static let gpt2VocabularySize = 50257

    /// The tokenizer, nil when the model has none. A tokenizer file that is there but cannot be used
    /// (damaged, an unsupported construct, more tokens than the model has) is an error, not a model
    /// without a tokenizer.
    public static func load(modelDirectory: URL, vocabSize: Int, fallback: URL?) throws(TokenizerError) -> (any TextTokenizer)? {
        let tokenizer: any TextTokenizer
        if let gguf = Checkpoint.ggufFile(at: modelDirectory) {
            // A GGUF model carries its vocabulary (or none) in the same file.
            let file: GGUFFile
            do { file = try GGUFFile(path: gguf.path) } catch { throw .invalidTokenizer(gguf, reason: "\(error)") }
            guard HFTokenizer.hasVocabulary(file) else { return nil }
            tokenizer = try HFTokenizer(gguf: file)
            guard tokenizer.vocabularySize <= vocabSize else {
                throw .invalidTokenizer(gguf, reason: "its ids go up to \(tokenizer.vocabularySize - 1), "
                                        + "but the model's vocabulary has \(vocabSize) tokens")
            }
        } else if let ranks = GPT2Tokenizer.find(inModelDirectory: modelDirectory) {
            tokenizer = try GPT2Tokenizer(ranksFile: ranks)
        } else if let file = HFTokenizer.find(inModelDirectory: modelDirectory) {
            tokenizer = try HFTokenizer(file: file, config: HFTokenizer.config(besides: file))
            guard tokenizer.vocabularySize <= vocabSize else {
                throw .invalidTokenizer(file, reason: "its ids go up to \(tokenizer.vocabularySize - 1), "
                                        + "but the model's vocabulary has \(vocabSize) tokens")
            }
        } else if vocabSize == gpt2VocabularySize, let fallback {
            tokenizer = try GPT2Tokenizer(ranksFile: fallback)
        } else {
            return nil
        }
        return tokenizer
    }

    /// The tokenizer file `file` names: a `tokenizer.json` (by its `.json` extension), the vocabulary of
    /// a GGUF file (`.gguf`), or GPT-2's ranks.
    public static func load(file: URL) throws(TokenizerError) -> any TextTokenizer {
        if file.pathExtension == "json" { return try HFTokenizer(file: file, config: HFTokenizer.config(besides: file)) }
        if file.pathExtension == "gguf" {
            let gguf: GGUFFile
            do { gguf = try GGUFFile(path: file.path) } catch { throw .invalidTokenizer(file, reason: "\(error)") }
            return try HFTokenizer(gguf: gguf)
        }
        return try GPT2Tokenizer(ranksFile: file)
    }
}
