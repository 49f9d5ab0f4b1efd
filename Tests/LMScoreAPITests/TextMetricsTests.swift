import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer
import Testing

/// lm-eval's wikitext metrics per text in `/score` results (`bits_per_byte`, `byte_perplexity`,
/// `word_perplexity`), with its byte and word counts.
@Suite("Per-text metrics: bits_per_byte, byte and word perplexity")
struct TextMetricsTests {
    /// Python's `len(re.split(r"\s+", text))` and `len(text.encode("utf-8"))`, run with CPython 3.11.
    @Test("words and bytes as lm-eval counts them", arguments: [
        ("", 1, 0), (" a", 2, 2), ("a ", 2, 2), ("a  b\tc", 3, 6), ("\r\n", 2, 2), ("a\u{00A0}b", 2, 4),
        ("a\u{200B}b", 1, 5), ("x\u{1C}y", 2, 3), ("nai\u{0308}ve caf\u{00E9} \u{1F389}", 3, 18), (" The cat\n\n sat ", 5, 15),
    ])
    func sizes(text: String, words: Int, bytes: Int) {
        let size = TextSize(text)
        #expect(size.words == words)
        #expect(size.bytes == bytes)
    }

    /// A tokenizer for the tiny model (vocab 1000): one id per byte, no BOS.
    struct ByteTokenizer: TextTokenizer {
        var formatName: String { "bytes" }
        var vocabularySize: Int { 256 }
        var beginningOfSequence: Int32? { nil }
        var addsBeginningOfSequence: Bool { false }
        var endOfText: Int32? { nil }
        func encodeWithByteOffsets(_ text: String, allowSpecial: Bool) -> (ids: [Int32], byteOffsets: [Int]) {
            (text.utf8.map { Int32($0) }, Array(0..<text.utf8.count))
        }
        func tokenBytes(_ id: Int32) -> [UInt8]? { (0..<256).contains(id) ? [UInt8(id)] : nil }
        func decode(_ ids: [Int32]) throws(TokenizerError) -> String { String(decoding: ids.map { UInt8($0) }, as: UTF8.self) }
    }

    @Test("texts: each row's metrics follow from its sum_logprob; the batch's from the sums; absent for ids")
    func metricsFromTheSums() throws {
        let scorer = try TinyModel.scorer()
        let texts = ["The cat sat on the mat.", "naïve  café\n", "x"]
        let body = try JSONSerialization.data(withJSONObject: ["texts": texts])
        let call = try ScoreCall.decode(body, config: scorer.config, tokenizer: ByteTokenizer())
        let result = scorer.score(batch: [call.request])[0]
        let response = try #require(try JSONSerialization.jsonObject(
            with: ScoreResponse(model: "tiny", result: result, call: call, tokenizer: ByteTokenizer()).jsonData()) as? [String: Any])
        let rows = try #require(response["results"] as? [[String: Any]])
        var sum = 0.0, bytes = 0, words = 0
        for (text, row) in zip(texts, rows) {
            let size = TextSize(text)
            #expect(row["bytes"] as? Int == size.bytes && row["words"] as? Int == size.words)
            let scored = try #require(row["scored_tokens"] as? Int)
            guard scored > 0 else {
                // "x" is one token: nothing scored, no metric.
                #expect(row["bits_per_byte"] is NSNull && row["byte_perplexity"] is NSNull && row["word_perplexity"] is NSNull)
                continue
            }
            let s = try #require(row["sum_logprob"] as? Double)
            #expect(isClose(try #require(row["bits_per_byte"] as? Double), -s / (log(2) * Double(size.bytes))))
            #expect(isClose(try #require(row["byte_perplexity"] as? Double), exp(-s / Double(size.bytes))))
            #expect(isClose(try #require(row["word_perplexity"] as? Double), exp(-s / Double(size.words))))
            sum += s; bytes += size.bytes; words += size.words
        }
        #expect(TextSize(texts[1]).words == 3)   // "naïve", "café", "" after the trailing newline
        let batch = try #require(response["batch"] as? [String: Any])
        #expect(isClose(try #require(batch["bits_per_byte"] as? Double), -sum / (log(2) * Double(bytes))))
        #expect(isClose(try #require(batch["byte_perplexity"] as? Double), exp(-sum / Double(bytes))))
        #expect(isClose(try #require(batch["word_perplexity"] as? Double), exp(-sum / Double(words))))

        // Token ids carry no text: no such fields.
        let ids = try scoreJSON(#"{"sequences": [[1, 2, 3]]}"#, scorer: scorer)
        let idRow = try #require((ids["results"] as? [[String: Any]])?.first)
        for key in ["bytes", "words", "bits_per_byte", "byte_perplexity", "word_perplexity"] {
            #expect(idRow[key] == nil, "\(key)")
            #expect((ids["batch"] as? [String: Any])?[key] == nil, "\(key)")
        }
    }

    @Test("texts of one token each: the batch metrics are null")
    func nothingScored() throws {
        let scorer = try TinyModel.scorer()
        let call = try ScoreCall.decode(Data(#"{"texts": ["a", "b"]}"#.utf8), config: scorer.config, tokenizer: ByteTokenizer())
        let result = scorer.score(batch: [call.request])[0]
        let response = try #require(try JSONSerialization.jsonObject(
            with: ScoreResponse(model: "tiny", result: result, call: call).jsonData()) as? [String: Any])
        let batch = try #require(response["batch"] as? [String: Any])
        #expect(batch["bits_per_byte"] is NSNull && batch["word_perplexity"] is NSNull && batch["byte_perplexity"] is NSNull)
    }
}
