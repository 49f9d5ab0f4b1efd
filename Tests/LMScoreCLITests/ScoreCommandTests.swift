import Foundation
import LMScoreEngine
import LMScoreTestSupport
import Testing

@Suite("lmscore score")
struct ScoreCommandTests {
    static let valid = #"{"sequences": [[1,2,3,4,5],[7,8]], "top_k": 2, "probabilities": true}"#

    func checkValid(_ result: RunResult, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        #expect(result.err.isEmpty, "\(result)", sourceLocation: sourceLocation)
        let object = try result.json()
        let results = try #require(object["results"] as? [[String: Any]], sourceLocation: sourceLocation)
        #expect(results.count == 2, sourceLocation: sourceLocation)
        #expect(results.first?["scored_tokens"] as? Int == 4, sourceLocation: sourceLocation)
        #expect((results.first?["logprobs"] as? [Any])?.count == 5, sourceLocation: sourceLocation)
        #expect(results.first?["probs"] != nil, sourceLocation: sourceLocation)
        #expect(results.first?["top"] != nil, sourceLocation: sourceLocation)
        let batch = try #require(object["batch"] as? [String: Any], sourceLocation: sourceLocation)
        #expect(batch["scored_tokens"] as? Int == 5, sourceLocation: sourceLocation)
        #expect(object["model"] as? String == "model", sourceLocation: sourceLocation)
    }

    @Test("a valid request from FILE, from stdin and from '-'")
    func valid() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let model = temp.file("model").path
        try writeTinyCheckpoint(to: temp.file("model"))
        let file = try temp.write("request.json", Self.valid)

        try checkValid(try lmscore(["score", "--model", model, file]))
        try checkValid(try lmscore(["score", "--model", model], stdin: Data(Self.valid.utf8)))
        try checkValid(try lmscore(["score", "--model", model, "-"], stdin: Data(Self.valid.utf8)))

        let pretty = try lmscore(["score", "--model", model, "--pretty", file])
        try checkValid(pretty)
        #expect(pretty.out.split(separator: "\n").count > 5, "--pretty indents")
    }

    @Test("an invalid request: exit 1, the error JSON on stdout, one line on stderr")
    func invalid() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let model = temp.file("model").path
        try writeTinyCheckpoint(to: temp.file("model"))
        let body = #"{"sequences": [[1,2,3],[4,5,6,1000]]}"#
        let file = try temp.write("bad.json", body)

        for result in [try lmscore(["score", "--model", model, file]), try lmscore(["score", "--model", model], stdin: Data(body.utf8))] {
            #expect(result.status == 1, "\(result)")
            let error = try #require(try result.json()["error"] as? [String: Any], "\(result)")
            #expect(Set(error.keys) == ["message", "type", "param", "code"])
            #expect(error["param"] as? String == "sequences[1][3]")
            #expect(error["type"] as? String == "invalid_request_error")
            #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
            #expect(result.err.contains("sequences[1][3]"), "\(result)")
            #expect(result.err.contains("422"), "\(result)")
        }
    }

    @Test("malformed JSON: exit 1, malformed_json error with param null")
    func malformed() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let model = temp.file("model").path
        try writeTinyCheckpoint(to: temp.file("model"))
        let result = try lmscore(["score", "--model", model], stdin: Data(#"{"sequences": [[1,2]"#.utf8))
        #expect(result.status == 1, "\(result)")
        let error = try #require(try result.json()["error"] as? [String: Any], "\(result)")
        #expect(error["code"] as? String == "malformed_json")
        #expect(error["param"] is NSNull)
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains("400"), "\(result)")
    }

    @Test("a request file that does not exist: non-zero exit, one line naming it")
    func missingFile() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let missing = temp.file("nope.json").path
        let result = try lmscore(["score", "--model", temp.file("model").path, missing])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains(missing), "\(result)")
    }

    @Test("score output equals the engine's Scorer on the same request")
    func matchesScorer() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("model")
        try writeTinyCheckpoint(to: directory, seed: 21)
        let rows = [tokenRow(10, seed: 1), tokenRow(1, seed: 2), tokenRow(100, seed: 3), tokenRow(64, seed: 4)]
        let body = #"{"sequences": \#(jsonRows(rows)), "top_k": 4, "window": {"stride": 20}}"#
        let result = try lmscore(["score", "--model", directory.path], stdin: Data(body.utf8))
        try #require(result.status == 0, "\(result)")
        let object = try result.json()
        let results = try #require(object["results"] as? [[String: Any]])
        try #require(results.count == rows.count)

        let scorer = Scorer(model: try Checkpoint.load(directory: directory))
        let expected = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 4, stride: 20))
        for (r, (row, want)) in zip(results, expected.rows).enumerated() {
            let logprobs = try #require(row["logprobs"] as? [Any])
            try #require(logprobs.count == want.positions.count, "row \(r): length")
            let top = try #require(row["top"] as? [Any])
            for (t, score) in want.positions.enumerated() {
                guard let score else {
                    #expect(logprobs[t] is NSNull, "row \(r) pos \(t): expected null")
                    continue
                }
                let got = try #require(number(logprobs[t]), "row \(r) pos \(t): null")
                #expect(abs(got - score.logprob) <= 1e-9, "row \(r) pos \(t): \(got) vs \(score.logprob)")
                let ids = (top[t] as? [[Any]])?.compactMap { ($0.first as? NSNumber)?.intValue }
                #expect(ids == score.top.map { Int($0.id) }, "row \(r) pos \(t): top ids")
            }
            #expect(row["scored_tokens"] as? Int == want.scoredTokens)
            #expect(row["windows"] as? Int == want.windows)
            #expect(row["is_greedy"] as? Bool == want.isGreedy)
            if let loss = want.loss {
                #expect(abs((number(row["loss"]) ?? .nan) - loss) <= 1e-9, "row \(r) loss")
            } else {
                #expect(row["loss"] is NSNull)
            }
        }
        let batch = try #require(object["batch"] as? [String: Any])
        #expect(batch["scored_tokens"] as? Int == expected.batch.scoredTokens)
        #expect(abs((number(batch["loss"]) ?? .nan) - expected.batch.loss!) <= 1e-9)
        #expect(abs((number(batch["mean_perplexity"]) ?? .nan) - expected.batch.meanPerplexity!)
                <= 1e-9 * expected.batch.meanPerplexity!)
    }

    @Test("inputs/targets through the CLI match the engine, -100 positions null")
    func inputsTargets() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("model")
        try writeTinyCheckpoint(to: directory, seed: 22)
        let inputs = [tokenRow(8, seed: 5), tokenRow(64, seed: 6)]
        var targets = [tokenRow(8, seed: 7), tokenRow(64, seed: 8)]
        targets[0][0] = -100
        targets[1][10] = -100
        let body = #"{"inputs": \#(jsonRows(inputs)), "targets": \#(jsonRows(targets))}"#
        let result = try lmscore(["score", "--model", directory.path], stdin: Data(body.utf8))
        try #require(result.status == 0, "\(result)")
        let results = try #require(try result.json()["results"] as? [[String: Any]])
        let scorer = Scorer(model: try Checkpoint.load(directory: directory))
        let expected = try scorer.score(ScoringRequest(rows: .inputsTargets(inputs: inputs, targets: targets)))
        for (r, (row, want)) in zip(results, expected.rows).enumerated() {
            let logprobs = try #require(row["logprobs"] as? [Any])
            try #require(logprobs.count == inputs[r].count)
            for (t, score) in want.positions.enumerated() {
                if targets[r][t] == -100 { #expect(logprobs[t] is NSNull, "row \(r) pos \(t)") }
                guard let score else { continue }
                #expect(abs((number(logprobs[t]) ?? .nan) - score.logprob) <= 1e-9, "row \(r) pos \(t)")
            }
            #expect(row["scored_tokens"] as? Int == inputs[r].count - 1)
        }
    }
}
