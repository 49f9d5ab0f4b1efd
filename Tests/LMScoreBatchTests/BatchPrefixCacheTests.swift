import Foundation
import LMScoreAPI
import LMScoreBatch
import LMScoreEngine
import LMScoreTestSupport
import Testing

/// `lmscore batch` with the prefix cache: lines sharing a few-shot prefix (within a scorer call and
/// across calls) give the same output bytes as without the cache, and the cache is used.
struct BatchPrefixCacheTests {
    static func input() -> String {
        let shots = (0..<30).map { String(($0 * 53 + 7) % 1000) }.joined(separator: ",")
        var lines: [String] = []
        for q in 0..<12 {
            let question = (0..<(5 + q % 4)).map { String(($0 * 31 + q * 97) % 1000) }.joined(separator: ",")
            let answers = (0..<4).map { a in "[" + (0...(a % 3)).map { String(($0 + 1) * (a + 3) * 11 % 1000) }.joined(separator: ",") + "]" }
            if q % 2 == 0 {
                let rows = answers.map { "[\(shots),\(question),\($0.dropFirst().dropLast())]" }.joined(separator: ",")
                lines.append(#"{"custom_id":"q\#(q)","method":"POST","url":"/score","body":{"sequences":[\#(rows)],"top_k":1}}"#)
            } else {
                let choices = answers.joined(separator: ",")
                lines.append(#"{"custom_id":"q\#(q)","method":"POST","url":"/score","body":{"choices":[{"context":[\#(shots),\#(question)],"continuations":[\#(choices)]}],"top_k":3}}"#)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func cacheOnAndOffWriteTheSameBytes() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let input = try scratch.write("in.jsonl", Self.input())
        let model = try TinyScorer.get().model
        var outputs: [Data] = []
        var statistics: [PrefixCache.Statistics] = []
        for budget in [0, 16 << 20] {
            let scorer = Scorer(model: model, maxTokensPerForward: 256, prefixCacheBytes: budget)
            var options = BatchOptions(input: input, output: scratch.path("out-\(budget).jsonl"))
            options.maxBatchTokens = 200   // several scorer calls: the cache carries the prefix across them
            let summary = try BatchRunner(options: options, scorer: scorer, modelName: "tiny", tokenizer: nil).run(progressMode: .quiet)
            #expect(summary.lines == 12 && summary.errors.isEmpty)
            #expect(summary.forwardBatches > 2)
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: scratch.path("out-\(budget).jsonl"))))
            statistics.append(scorer.prefixCache.statistics)
        }
        #expect(outputs[0] == outputs[1])
        #expect(statistics[0].hitTokens == 0)
        #expect(statistics[1].hitTokens > 0 && statistics[1].missTokens < statistics[0].missTokens)
    }
}
