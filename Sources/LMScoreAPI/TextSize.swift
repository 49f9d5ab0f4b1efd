import Foundation

/// A text's size as lm-eval's wikitext task counts it (`lm_eval/tasks/wikitext/preprocess_wikitext.py`,
/// `process_results`): UTF-8 bytes, and words as `len(re.split(r"\s+", text))` — one more than the runs
/// of whitespace, so a leading or trailing run counts an empty word, as Python's split does.
public struct TextSize: Sendable, Equatable {
    public let bytes: Int
    public let words: Int

    /// Sizes summed over several texts.
    init(bytes: Int, words: Int) {
        self.bytes = bytes
        self.words = words
    }

    public init(_ text: String) {
        bytes = text.utf8.count
        var runs = 0
        var inRun = false
        // Unicode scalars, not Characters: "\r\n" is one Character but a run of two `\s` either way.
        for scalar in text.unicodeScalars {
            let space = Self.isPythonWhitespace(scalar)
            if space && !inRun { runs += 1 }
            inRun = space
        }
        words = runs + 1
    }

    /// What Python 3's `re` matches with `\s` in a str pattern (`str.isspace()`: Unicode White_Space
    /// plus the information separators U+001C–U+001F, without U+200B).
    static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}

/// lm-eval's per-text perplexity metrics (`lm_eval/api/metrics.py`: `bits_per_byte`,
/// `weighted_perplexity` over bytes and over words) of Σ log p over `size`:
/// bits_per_byte = −Σ / (ln 2 · bytes), byte_perplexity = exp(−Σ / bytes), word_perplexity = exp(−Σ / words).
/// Σ covers the scored tokens only: without a BOS the text's first token has no context and is not
/// scored (lm-eval scores it after its prefix token), so the numbers are those of the rest of the text.
struct TextMetrics: Equatable {
    let bitsPerByte: Double
    let bytePerplexity: Double
    let wordPerplexity: Double

    /// nil when nothing is scored (no number would mean anything) or the text has no bytes.
    init?(sumLogprob: Double, scoredTokens: Int, size: TextSize) {
        guard scoredTokens > 0, size.bytes > 0 else { return nil }
        bitsPerByte = -sumLogprob / (Foundation.log(2.0) * Double(size.bytes))
        bytePerplexity = Foundation.exp(-sumLogprob / Double(size.bytes))
        wordPerplexity = Foundation.exp(-sumLogprob / Double(size.words))
    }
}
