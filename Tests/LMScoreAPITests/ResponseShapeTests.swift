import Foundation
import LMScoreTestSupport
import LMScoreAPI
import LMScoreEngine
import Testing

@Suite("Response JSON shape and arithmetic")
struct ResponseShapeTests {
    static let rowKeys: Set<String> = ["logprobs", "greedy", "scored_tokens", "sum_logprob", "loss", "perplexity", "is_greedy", "windows"]
    static let batchKeys: Set<String> = ["scored_tokens", "loss", "perplexity", "mean_perplexity"]
    /// The same tokens packed into forward passes of a different shape round differently in float32
    /// (the engine promises invariance only up to BLAS rounding); a misaligned position is off by ~1.
    static let packingTolerance = 1e-5

    func rows(_ response: [String: Any]) throws -> [[String: Any]] {
        try #require(response["results"] as? [[String: Any]], "no results array")
    }

    func batch(_ response: [String: Any]) throws -> [String: Any] {
        try #require(response["batch"] as? [String: Any], "no batch object")
    }

    @Test("sequences with top_k 3 and probabilities: every key, aligned arrays, consistent numbers")
    func fullRows() throws {
        let scorer = try TinyModel.scorer()
        let sequences = [tokenRow(12, seed: 1), tokenRow(5, seed: 2), tokenRow(30, seed: 3)]
        let response = try scoreJSON(
            #"{"sequences": \#(jsonRows(sequences)), "top_k": 3, "probabilities": true}"#, scorer: scorer, model: "tiny-x")
        #expect(Set(response.keys) == ["model", "results", "batch"])
        #expect(response["model"] as? String == "tiny-x")
        let results = try rows(response)
        try #require(results.count == sequences.count)

        for (r, (row, sequence)) in zip(results, sequences).enumerated() {
            #expect(Set(row.keys) == Self.rowKeys.union(["top", "probs"]), "row \(r): \(row.keys.sorted())")
            let logprobs = try doubles(row["logprobs"])
            let probs = try doubles(row["probs"])
            let greedy = try #require(row["greedy"] as? [Any])
            let top = try #require(row["top"] as? [Any])
            #expect(logprobs.count == sequence.count)
            #expect(probs.count == sequence.count)
            #expect(greedy.count == sequence.count)
            #expect(top.count == sequence.count)
            #expect(logprobs[0] == nil, "nothing predicts the first token")
            #expect(probs[0] == nil)
            #expect(greedy[0] is NSNull)
            #expect(top[0] is NSNull)

            var sum = 0.0
            var allGreedy = true
            for t in 1..<sequence.count {
                let logprob = try #require(logprobs[t], "row \(r) position \(t) is null")
                #expect(logprob <= 0)
                sum += logprob
                let prob = try #require(probs[t])
                #expect(abs(prob - exp(logprob)) <= 1e-12, "row \(r) pos \(t): probs \(prob) vs exp(logprob) \(exp(logprob))")

                // top: [id, logprob] pairs, best first, three of them.
                let entries = try #require(top[t] as? [[Any]], "row \(r) pos \(t): top is not a list of pairs")
                #expect(entries.count == 3)
                var previous = Double.infinity
                var ids: [Int] = []
                for entry in entries {
                    try #require(entry.count == 2, "top entry \(entry) is not [id, logprob]")
                    let id = try #require((entry[0] as? NSNumber)?.intValue)
                    let value = try #require((entry[1] as? NSNumber)?.doubleValue)
                    #expect((0..<tinyConfig.vocabSize).contains(id))
                    #expect(value <= previous, "row \(r) pos \(t): top not best-first")
                    previous = value
                    ids.append(id)
                    if id == Int(sequence[t]) { #expect(abs(value - logprob) <= 1e-12) }
                }
                #expect(Set(ids).count == 3, "duplicate ids in top: \(ids)")
                let best = try #require((entries[0][1] as? NSNumber)?.doubleValue)
                #expect(logprob <= best + 1e-12)
                let isGreedy = try #require(greedy[t] as? Bool)
                #expect(isGreedy == (ids[0] == Int(sequence[t])), "row \(r) pos \(t): greedy flag vs top[0]")
                allGreedy = allGreedy && isGreedy
            }

            let scored = try #require(row["scored_tokens"] as? Int)
            let sumLogprob = try #require((row["sum_logprob"] as? NSNumber)?.doubleValue)
            let loss = try #require((row["loss"] as? NSNumber)?.doubleValue)
            let perplexity = try #require((row["perplexity"] as? NSNumber)?.doubleValue)
            #expect(scored == sequence.count - 1)
            #expect(isClose(sumLogprob, sum))
            #expect(isClose(loss, -sumLogprob / Double(scored)))
            #expect(isClose(perplexity, exp(loss)))
            #expect(row["is_greedy"] as? Bool == allGreedy)
            #expect(row["windows"] as? Int == 1)
        }

        // Batch: token-weighted over rows, plus the plain mean of row perplexities.
        let b = try batch(response)
        #expect(Set(b.keys) == Self.batchKeys)
        let rowScored = try results.map { try #require($0["scored_tokens"] as? Int) }
        let rowSums = try results.map { try #require(($0["sum_logprob"] as? NSNumber)?.doubleValue) }
        let rowPerplexities = try results.map { try #require(($0["perplexity"] as? NSNumber)?.doubleValue) }
        let totalTokens = rowScored.reduce(0, +)
        let expectedLoss = -rowSums.reduce(0, +) / Double(totalTokens)
        let batchLoss = try #require((b["loss"] as? NSNumber)?.doubleValue)
        #expect(b["scored_tokens"] as? Int == totalTokens)
        #expect(isClose(batchLoss, expectedLoss))
        #expect(isClose(try #require((b["perplexity"] as? NSNumber)?.doubleValue), exp(expectedLoss)))
        #expect(isClose(try #require((b["mean_perplexity"] as? NSNumber)?.doubleValue),
                        rowPerplexities.reduce(0, +) / Double(rowPerplexities.count)))
        // The rows differ in length, so the token-weighted loss is not the mean of the row losses.
        let rowLosses = try results.map { try #require(($0["loss"] as? NSNumber)?.doubleValue) }
        let unweighted = rowLosses.reduce(0, +) / Double(rowLosses.count)
        if abs(unweighted - expectedLoss) > 1e-9 { #expect(!isClose(batchLoss, unweighted)) }
    }

    @Test("without top_k and probabilities the top and probs keys are absent")
    func optionalKeysAbsent() throws {
        let scorer = try TinyModel.scorer()
        for body in [#"{"sequences": [[1,2,3]]}"#, #"{"sequences": [[1,2,3]], "top_k": 0, "probabilities": false}"#] {
            let row = try #require(try rows(try scoreJSON(body, scorer: scorer)).first)
            #expect(Set(row.keys) == Self.rowKeys, "\(body): \(row.keys.sorted())")
        }
        let onlyTop = try #require(try rows(try scoreJSON(#"{"sequences": [[1,2,3]], "top_k": 1}"#, scorer: scorer)).first)
        #expect(Set(onlyTop.keys) == Self.rowKeys.union(["top"]))
        let onlyProbs = try #require(try rows(try scoreJSON(#"{"sequences": [[1,2,3]], "probabilities": true}"#, scorer: scorer)).first)
        #expect(Set(onlyProbs.keys) == Self.rowKeys.union(["probs"]))
    }

    @Test("inputs/targets with -100: null at ignored positions, not counted")
    func ignoredTargets() throws {
        let scorer = try TinyModel.scorer()
        let inputs: [[Int32]] = [[5, 6, 7, 8, 9], [10, 11, 12]]
        let targets: [[Int32]] = [[-100, 7, -100, 9, 3], [11, 12, -100]]
        let response = try scoreJSON(
            #"{"inputs": \#(jsonRows(inputs)), "targets": \#(jsonRows(targets)), "top_k": 2, "probabilities": true}"#,
            scorer: scorer)
        let results = try rows(response)
        try #require(results.count == 2)
        var total = 0
        var sumAll = 0.0
        for (r, row) in results.enumerated() {
            let logprobs = try doubles(row["logprobs"])
            let probs = try doubles(row["probs"])
            let greedy = try #require(row["greedy"] as? [Any])
            let top = try #require(row["top"] as? [Any])
            #expect(logprobs.count == inputs[r].count, "aligned with the input row")
            var sum = 0.0
            for (t, target) in targets[r].enumerated() {
                if target == -100 {
                    #expect(logprobs[t] == nil, "row \(r) pos \(t) must be null")
                    #expect(probs[t] == nil)
                    #expect(greedy[t] is NSNull)
                    #expect(top[t] is NSNull)
                } else {
                    let logprob = try #require(logprobs[t], "row \(r) pos \(t) must be scored")
                    sum += logprob
                    #expect((top[t] as? [[Any]])?.count == 2)
                }
            }
            let scored = targets[r].filter { $0 != -100 }.count
            #expect(row["scored_tokens"] as? Int == scored)
            #expect(isClose(try #require((row["sum_logprob"] as? NSNumber)?.doubleValue), sum))
            #expect(isClose(try #require((row["loss"] as? NSNumber)?.doubleValue), -sum / Double(scored)))
            #expect(row["windows"] as? Int == 1)
            total += scored
            sumAll += sum
        }
        let b = try batch(response)
        #expect(b["scored_tokens"] as? Int == total)
        #expect(isClose(try #require((b["loss"] as? NSNumber)?.doubleValue), -sumAll / Double(total)))
    }

    @Test("inputs/targets logprobs equal the same tokens scored as a sequence")
    func inputsTargetsMatchSequences() throws {
        let scorer = try TinyModel.scorer()
        let sequence = tokenRow(20, seed: 42)
        let seq = try doubles(try rows(try scoreJSON(#"{"sequences": \#(jsonRows([sequence]))}"#, scorer: scorer))[0]["logprobs"])
        let inputs = Array(sequence.dropLast()), targets = Array(sequence.dropFirst())
        let pair = try doubles(try rows(try scoreJSON(
            #"{"inputs": \#(jsonRows([inputs])), "targets": \#(jsonRows([targets]))}"#, scorer: scorer))[0]["logprobs"])
        try #require(pair.count == seq.count - 1)
        for t in 0..<pair.count {
            let a = try #require(pair[t]), b = try #require(seq[t + 1])
            #expect(abs(a - b) <= Self.packingTolerance, "target \(t): \(a) vs \(b)")
        }
    }

    @Test("all targets ignored: scored_tokens 0, loss and perplexity null")
    func allIgnored() throws {
        let scorer = try TinyModel.scorer()
        let response = try scoreJSON(#"{"inputs": [[1,2,3]], "targets": [[-100,-100,-100]]}"#, scorer: scorer)
        let row = try #require(try rows(response).first)
        #expect(row["scored_tokens"] as? Int == 0)
        #expect(row["loss"] is NSNull)
        #expect(row["perplexity"] is NSNull)
        #expect(try doubles(row["logprobs"]) == [nil, nil, nil])
        let b = try batch(response)
        #expect(b["scored_tokens"] as? Int == 0)
        #expect(b["loss"] is NSNull)
        #expect(b["perplexity"] is NSNull)
        #expect(b["mean_perplexity"] is NSNull)
    }

    @Test("a single-token row scores nothing: loss and perplexity null, other rows unaffected")
    func singleToken() throws {
        let scorer = try TinyModel.scorer()
        let response = try scoreJSON(#"{"sequences": [[5], [1,2,3,4]], "top_k": 2, "probabilities": true}"#, scorer: scorer)
        let results = try rows(response)
        try #require(results.count == 2)
        let single = results[0]
        #expect(single["scored_tokens"] as? Int == 0)
        #expect(single["loss"] is NSNull, "loss of a row with nothing scored must be null")
        #expect(single["perplexity"] is NSNull)
        #expect((single["sum_logprob"] as? NSNumber)?.doubleValue == 0)
        #expect(try doubles(single["logprobs"]) == [nil])
        #expect(try doubles(single["probs"]) == [nil])
        #expect((single["top"] as? [Any])?.count == 1)
        #expect(single["is_greedy"] as? Bool == true)
        #expect(single["windows"] as? Int == 1)

        let other = results[1]
        let b = try batch(response)
        #expect(b["scored_tokens"] as? Int == 3)
        #expect((b["loss"] as? NSNumber)?.doubleValue == (other["loss"] as? NSNumber)?.doubleValue)
        // mean_perplexity averages only the rows that score something.
        #expect((b["mean_perplexity"] as? NSNumber)?.doubleValue == (other["perplexity"] as? NSNumber)?.doubleValue)

        let onlySingles = try batch(try scoreJSON(#"{"sequences": [[5], [6]]}"#, scorer: scorer))
        #expect(onlySingles["scored_tokens"] as? Int == 0)
        #expect(onlySingles["loss"] is NSNull)
        #expect(onlySingles["perplexity"] is NSNull)
        #expect(onlySingles["mean_perplexity"] is NSNull)
    }

    @Test("a sequence longer than n_positions: several windows, every position from 1 scored",
          arguments: [nil, 1, 16, 63, 64] as [Int?])
    func longSequence(stride: Int?) throws {
        let scorer = try TinyModel.scorer()
        let length = 2 * tinyConfig.nPositions + 37
        let sequence = tokenRow(length, seed: 77)
        let window = stride.map { #", "window": {"stride": \#($0)}"# } ?? ""
        let response = try scoreJSON(#"{"sequences": \#(jsonRows([sequence, [1, 2, 3]]))\#(window)}"#, scorer: scorer)
        let results = try rows(response)
        let row = results[0]
        let logprobs = try doubles(row["logprobs"])
        #expect(logprobs.count == length)
        #expect(logprobs[0] == nil)
        let missing = (1..<length).filter { logprobs[$0] == nil }
        #expect(missing.isEmpty, "unscored positions: \(missing)")
        #expect(row["scored_tokens"] as? Int == length - 1)
        let windows = try #require(row["windows"] as? Int)
        #expect(windows > 1)
        // HF's loop, with the stride capped at n_positions - 1 (a stride of n_positions would leave
        // each later window's first token unscored).
        let effective = min(stride ?? tinyConfig.nPositions / 2, tinyConfig.nPositions - 1)
        #expect(windows == hfWindowCount(length: length, context: tinyConfig.nPositions, stride: effective))
        #expect(results[1]["windows"] as? Int == 1)
    }

    @Test("the first window of a long sequence scores what the short prefix scores")
    func longSequencePrefix() throws {
        let scorer = try TinyModel.scorer()
        let sequence = tokenRow(150, seed: 5)
        let long = try doubles(try rows(try scoreJSON(#"{"sequences": \#(jsonRows([sequence]))}"#, scorer: scorer))[0]["logprobs"])
        let prefix = Array(sequence.prefix(tinyConfig.nPositions))
        let short = try doubles(try rows(try scoreJSON(#"{"sequences": \#(jsonRows([prefix]))}"#, scorer: scorer))[0]["logprobs"])
        for t in 1..<prefix.count {
            let a = try #require(long[t]), b = try #require(short[t])
            #expect(abs(a - b) <= Self.packingTolerance, "position \(t)")
        }
    }

    @Test("rows come back in request order")
    func rowOrder() throws {
        let scorer = try TinyModel.scorer()
        let a = tokenRow(9, seed: 100), b = tokenRow(4, seed: 200)
        let ab = try rows(try scoreJSON(#"{"sequences": \#(jsonRows([a, b]))}"#, scorer: scorer))
        let ba = try rows(try scoreJSON(#"{"sequences": \#(jsonRows([b, a]))}"#, scorer: scorer))
        let ab0 = try doubles(ab[0]["logprobs"]), ba1 = try doubles(ba[1]["logprobs"])
        #expect(ab0.count == 9 && ba1.count == 9)
        for t in 1..<9 { #expect(abs(try #require(ab0[t]) - (try #require(ba1[t]))) <= Self.packingTolerance) }
    }

    @Test("pretty output parses to the same object")
    func pretty() throws {
        let scorer = try TinyModel.scorer()
        let call = try ScoreCall.decode(Data(#"{"sequences": [[1,2,3]], "top_k": 2}"#.utf8), config: scorer.config)
        let result = scorer.score(batch: [call.request])[0]
        let response = ScoreResponse(model: "m", result: result, call: call)
        let compact = try JSONSerialization.jsonObject(with: response.jsonData()) as? NSDictionary
        let pretty = try JSONSerialization.jsonObject(with: response.jsonData(pretty: true)) as? NSDictionary
        #expect(compact != nil)
        #expect(compact == pretty)
        #expect(String(decoding: response.jsonData(pretty: true), as: UTF8.self).contains("\n"))
    }

    @Test("choices: one result per group, a row per continuation equal to scoring context + continuation, best = argmax")
    func choices() throws {
        let scorer = try TinyModel.scorer()
        let context = tokenRow(12, seed: 300)
        let continuations = [tokenRow(1, seed: 301), tokenRow(4, seed: 302), tokenRow(2, seed: 303)]
        let body = #"{"choices": [{"context": \#(jsonRows([context]).dropFirst().dropLast()), "continuations": \#(jsonRows(continuations))},"#
            + #" {"context": [5], "continuations": [[6]]}], "top_k": 2}"#
        let response = try scoreJSON(body, scorer: scorer)
        let groups = try #require(response["results"] as? [[String: Any]])
        #expect(groups.count == 2)
        #expect(Set(groups[0].keys) == ["continuations", "best"])
        let rows = try #require(groups[0]["continuations"] as? [[String: Any]])
        #expect(rows.count == 3)
        let full = try self.rows(try scoreJSON(#"{"sequences": \#(jsonRows(continuations.map { context + $0 }))}"#, scorer: scorer))
        var sums: [Double] = []
        for (r, continuation) in continuations.enumerated() {
            #expect(Set(rows[r].keys) == Self.rowKeys.union(["top"]))
            let logprobs = try doubles(rows[r]["logprobs"])
            let expected = Array(try doubles(full[r]["logprobs"]).suffix(continuation.count))
            #expect(logprobs.count == continuation.count)
            for (a, b) in zip(logprobs, expected) {
                #expect(abs(try #require(a) - (try #require(b))) <= Self.packingTolerance)
            }
            #expect(rows[r]["scored_tokens"] as? Int == continuation.count)
            #expect((rows[r]["top"] as? [Any])?.count == continuation.count)
            sums.append(try #require(rows[r]["sum_logprob"] as? Double))
        }
        #expect(groups[0]["best"] as? Int == sums.indices.max { sums[$0] < sums[$1] })
        #expect(groups[1]["best"] as? Int == 0)
        let total = try batch(response)
        #expect(total["scored_tokens"] as? Int == 1 + 4 + 2 + 1)
    }
}
