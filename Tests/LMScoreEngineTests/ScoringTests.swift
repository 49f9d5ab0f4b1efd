import Foundation
import Testing
@testable import LMScoreEngine

@Suite("Scoring")
struct ScoringTests {
    static let tiny = RandomCheckpoint.Preset.tiny.config   // vocab 1000, n_positions 64

    /// A tiny random model shared by the tests of this suite.
    static let model: DecoderModel = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-scoring-\(UUID().uuidString)")
        try! makeCheckpoint(seed: 11, into: dir)
        return try! Checkpoint.load(directory: dir)
    }()

    @Test func slidingWindowsScoreEveryTokenOnce() {
        for length in [1, 2, 63, 64, 65, 149, 300] {
            for stride in [1, 5, 32, 63, 64] {
                let windows = slidingWindows(length: length, context: 64, stride: stride)
                var counts = [Int](repeating: 0, count: length)
                for window in windows {
                    #expect(window.span.count <= 64)
                    #expect(window.scored.lowerBound > window.span.lowerBound || window.scored.isEmpty, "a scored token needs context")
                    for t in window.scored { counts[t] += 1 }
                }
                #expect(counts.first == 0 || length == 0)
                #expect(counts.dropFirst().allSatisfy { $0 == 1 }, "length \(length) stride \(stride): \(counts)")
                #expect(windows.last?.span.upperBound == length)
            }
        }
        // The HF guide's windows for stride < context: starts 0, S, 2S, … ; first window scores 1..<64.
        #expect(slidingWindows(length: 149, context: 64, stride: 32) == [
            Window(span: 0..<64, scored: 1..<64), Window(span: 32..<96, scored: 64..<96),
            Window(span: 64..<128, scored: 96..<128), Window(span: 96..<149, scored: 128..<149),
        ])
    }

    @Test func sequencesEqualInputsTargetsShiftedByOne() throws {
        let scorer = Scorer(model: Self.model)
        let rows = randomRows(count: 3, length: 40, vocab: 1000, seed: 4)
        let bySequence = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 2))
        let byPairs = try scorer.score(ScoringRequest(
            rows: .inputsTargets(inputs: rows.map { Array($0.dropLast()) }, targets: rows.map { Array($0.dropFirst()) }), topK: 2))
        for (s, p) in zip(bySequence.rows, byPairs.rows) {
            #expect(s.positions.first! == nil)
            let d = try #require(maxLogprobDifference(RowScore(positions: Array(s.positions.dropFirst()), windows: 1), p))
            #expect(d <= 1e-5)
            #expect(s.scoredTokens == 39 && p.scoredTokens == 39)
        }
        #expect(abs(bySequence.batch.loss! - byPairs.batch.loss!) <= 1e-6)
    }

    @Test func lossPerplexityAndIgnoredTargets() throws {
        let scorer = Scorer(model: Self.model)
        let inputs: [[Int32]] = [[5, 6, 7, 8], [9, 10]]
        let targets: [[Int32]] = [[-100, 7, -100, 9], [-100, -100]]
        let result = try scorer.score(ScoringRequest(rows: .inputsTargets(inputs: inputs, targets: targets)))
        let row = result.rows[0]
        #expect(row.positions[0] == nil && row.positions[2] == nil)
        #expect(row.scoredTokens == 2)
        #expect(row.sumLogprob == row.positions[1]!.logprob + row.positions[3]!.logprob)
        #expect(row.loss == -row.sumLogprob / 2)
        #expect(row.perplexity == Foundation.exp(row.loss!))
        // A row with every target ignored scores nothing: loss undefined, as PyTorch's NaN.
        #expect(result.rows[1].scoredTokens == 0 && result.rows[1].loss == nil && result.rows[1].isGreedy)
        #expect(result.batch.scoredTokens == 2 && result.batch.loss == row.loss)
        #expect(result.batch.meanPerplexity == row.perplexity)
    }

    @Test func batchLossIsTokenWeightedAndMeanPerplexityIsNot() throws {
        let scorer = Scorer(model: Self.model)
        let rows = [randomRows(count: 1, length: 5, vocab: 1000, seed: 1)[0], randomRows(count: 1, length: 50, vocab: 1000, seed: 2)[0]]
        let result = try scorer.score(ScoringRequest(rows: .sequences(rows)))
        let (a, b) = (result.rows[0], result.rows[1])
        let weighted = -(a.sumLogprob + b.sumLogprob) / Double(a.scoredTokens + b.scoredTokens)
        #expect(abs(result.batch.loss! - weighted) <= 1e-12)
        #expect(abs(result.batch.meanPerplexity! - (a.perplexity! + b.perplexity!) / 2) <= 1e-9 * a.perplexity!)
    }

    @Test func topKIsSortedAndConsistentWithGreedy() throws {
        let scorer = Scorer(model: Self.model)
        let result = try scorer.score(ScoringRequest(rows: .sequences(randomRows(count: 2, length: 30, vocab: 1000, seed: 9)), topK: 20))
        for row in result.rows {
            for case let score? in row.positions {
                #expect(score.top.count == 20)
                #expect(zip(score.top, score.top.dropFirst()).allSatisfy { $0.logprob >= $1.logprob })
                #expect(Set(score.top.map(\.id)).count == 20)
                #expect(score.top.allSatisfy { $0.logprob <= 0 })
                #expect(score.isGreedy == (score.logprob == score.top[0].logprob))
                // The target, if among the top 20, carries the same log-probability there.
                #expect(score.logprob <= score.top[0].logprob)
            }
        }
        // A sequence that follows the model's own argmax is greedy everywhere.
        var greedy: [Int32] = [17]
        for _ in 0..<20 {
            let next = try scorer.score(ScoringRequest(rows: .sequences([greedy + [0]]), topK: 1))
            greedy.append(next.rows[0].positions.last!!.top[0].id)
        }
        let scored = try scorer.score(ScoringRequest(rows: .sequences([greedy])))
        #expect(scored.rows[0].isGreedy)
        #expect(scored.rows[0].positions.dropFirst().allSatisfy { $0!.isGreedy })
    }

    @Test func probabilitiesOverTheVocabularySumToOne() throws {
        // Score every possible next token after a fixed prefix: Σ exp(logprob) must be 1.
        let scorer = Scorer(model: Self.model)
        let prefix: [Int32] = [3, 1, 4, 1, 5]
        let inputs = [[Int32]](repeating: prefix, count: 1000)
        let targets = (0..<1000).map { prefix.dropLast().map { _ in ScoringRequest.ignoredTarget } + [Int32($0)] }
        let result = try scorer.score(ScoringRequest(rows: .inputsTargets(inputs: inputs, targets: targets)))
        let total = result.rows.reduce(0.0) { $0 + Foundation.exp($1.sumLogprob) }
        #expect(abs(total - 1) <= 1e-5, "Σ p = \(total)")
    }

    @Test("a row's scores do not depend on what it is packed with (tiny model)")
    func batchInvarianceTiny() throws {
        let scorer = Scorer(model: Self.model, maxTokensPerForward: 64)
        let rows = randomRows(count: 12, length: 37, vocab: 1000, seed: 21) + [randomRows(count: 1, length: 200, vocab: 1000, seed: 22)[0]]
        let packed = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 5))
        #expect(packed.forwardPasses > 1, "maxTokensPerForward must split the request")
        let wide = Scorer(model: Self.model, maxTokensPerForward: 1 << 14)
        let together = try wide.score(ScoringRequest(rows: .sequences(rows), topK: 5))
        #expect(together.forwardPasses == 1)
        var worst = 0.0
        for (r, row) in rows.enumerated() {
            let alone = try wide.score(ScoringRequest(rows: .sequences([row]), topK: 5)).rows[0]
            worst = max(worst, try #require(maxLogprobDifference(alone, packed.rows[r])))
            worst = max(worst, try #require(maxLogprobDifference(alone, together.rows[r])))
            #expect(alone.positions.map { $0?.top.map(\.id) } == together.rows[r].positions.map { $0?.top.map(\.id) })
        }
        print("batch invariance (tiny): max |Δ logprob| alone vs packed = \(worst)")
        #expect(worst <= 1e-4)
    }

    @Test func severalRequestsShareForwardPasses() throws {
        let scorer = Scorer(model: Self.model)
        let a = ScoringRequest(rows: .sequences(randomRows(count: 2, length: 10, vocab: 1000, seed: 1)), topK: 3)
        let b = ScoringRequest(rows: .inputsTargets(inputs: [[1, 2, 3]], targets: [[2, -100, 4]]))
        let results = scorer.score(batch: [a, b])
        #expect(results.map(\.forwardPasses) == [1, 1])
        #expect(maxLogprobDifference(results[0].rows[1], try scorer.score(a).rows[1])! <= 1e-5)
        #expect(results[1].rows[0].positions[1] == nil)
        #expect(results[0].rows[0].positions[1]!.top.count == 3 && results[1].rows[0].positions[0]!.top.isEmpty)
    }

    @Test func validationNamesTheOffendingValue() {
        func error(_ request: ScoringRequest) -> ValidationError? {
            do { try request.validate(for: Self.tiny) } catch { return error }
            return nil
        }
        var rows = randomRows(count: 4, length: 20, vocab: 1000, seed: 1)
        rows[3][17] = 1000
        #expect(error(ScoringRequest(rows: .sequences(rows)))?.parameter == "sequences[3][17]")
        #expect(error(ScoringRequest(rows: .sequences([[1], [-1]])))?.parameter == "sequences[1][0]")
        #expect(error(ScoringRequest(rows: .sequences([])))?.parameter == "sequences")
        #expect(error(ScoringRequest(rows: .sequences([[1], []])))?.parameter == "sequences[1]")
        #expect(error(ScoringRequest(rows: .sequences([[1, 2]]), topK: 21))?.parameter == "top_k")
        #expect(error(ScoringRequest(rows: .sequences([[1, 2]]), topK: -1))?.parameter == "top_k")
        #expect(error(ScoringRequest(rows: .sequences([[1, 2]]), stride: 0))?.parameter == "window.stride")
        #expect(error(ScoringRequest(rows: .sequences([[1, 2]]), stride: 65))?.parameter == "window.stride")
        #expect(error(ScoringRequest(rows: .sequences([[1, 2]]), stride: 64)) == nil)
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [[1]], targets: [])))?.parameter == "targets")
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [[1, 2]], targets: [[1]])))?.parameter == "targets[0]")
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [[1, -100]], targets: [[1, 2]])))?.parameter == "inputs[0][1]")
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [[1, 2]], targets: [[1, 1000]])))?.parameter == "targets[0][1]")
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [[1, 2]], targets: [[-100, -100]]))) == nil)
        let long = [Int32](repeating: 1, count: 65)
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [[1], long], targets: [[1], long])))?.parameter == "inputs[1]")
        #expect(error(ScoringRequest(rows: .inputsTargets(inputs: [], targets: [])))?.parameter == "inputs")
    }
}
