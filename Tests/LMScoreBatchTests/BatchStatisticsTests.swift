import Foundation
import LMScoreAPI
import LMScoreBatch
import LMScoreEngine
import LMScoreTestSupport
import Testing

/// `statistics` in batch lines: the same entropy and rank lists `/score` answers; a `reference` names a
/// model `lmscore batch` does not serve (it serves one): an error line, the run goes on.
@Suite("lmscore batch: statistics")
struct BatchStatisticsTests {
    @Test func statisticsInLinesAndAReferenceRefused() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let row: [Int32] = [4, 80, 123, 9, 999, 0, 15]
        let lines = [
            #"{"custom_id": "s", "method": "POST", "url": "/score", "body": {"sequences": [\#(row)], "statistics": ["entropy", "rank"]}}"#,
            #"{"custom_id": "r", "method": "POST", "url": "/score", "body": {"sequences": [\#(row)], "reference": "other"}}"#,
        ]
        let input = try scratch.write("in.jsonl", lines.joined(separator: "\n") + "\n")
        let scorer = try TinyScorer.get()
        let options = BatchOptions(input: input, output: scratch.path("out.jsonl"))
        let summary = try BatchRunner(options: options, scorer: scorer, modelName: "tiny", tokenizer: nil).run(progressMode: .quiet)
        #expect(summary.lines == 2)
        let outputs = try jsonLines(try Data(contentsOf: URL(fileURLWithPath: scratch.path("out.jsonl"))))

        let engine = try scorer.score(ScoringRequest(rows: .sequences([row]), statistics: [.entropy, .rank])).rows[0]
        let body = try #require((outputs[0]["response"] as? [String: Any])?["body"] as? [String: Any])
        let result = try #require((body["results"] as? [[String: Any]])?.first)
        let ranks = try #require(result["rank"] as? [Any])
        #expect(ranks.map { ($0 as? NSNumber)?.intValue } == engine.positions.map { $0?.rank })
        let entropy = try #require(result["entropy"] as? [Any])
        #expect(zip(entropy, engine.positions).allSatisfy { got, score in
            guard let score else { return got is NSNull }
            return abs(((got as? NSNumber)?.doubleValue ?? .nan) - score.entropy!) <= 1e-14 * max(1, score.entropy!)
        })

        let refused = try #require((outputs[1]["response"] as? [String: Any]))
        #expect(refused["status_code"] as? Int == 404)
        let error = try #require((refused["body"] as? [String: Any])?["error"] as? [String: Any])
        #expect(error["param"] as? String == "reference" && error["code"] as? String == "model_not_found")
    }
}
