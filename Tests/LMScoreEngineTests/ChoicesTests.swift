import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// Multiple choice with the context read once (`ScoringRequest.Rows.choices`) must give what scoring
/// `context + continuation` as one sequence gives: the same bits, since every product's reduction is
/// the same (attention over the shared context continues each sum, see `matmul`); next-token
/// predictions must be the argmax with its log-probability.
@Suite("Multiple choice and next-token prediction")
struct ChoicesTests {
    /// The bundled trained model: its attention patterns are far from uniform, unlike random weights.
    static let bundledModel = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/lmscore-gpt2-small-en")

    /// Scores each continuation as the sequence context + continuation and returns its positions past the context.
    func sequenceScores(_ scorer: Scorer, _ group: ChoiceGroup) throws -> [RowScore] {
        let sequences = group.continuations.map { group.context + $0 }
        let result = try scorer.score(ScoringRequest(rows: .sequences(sequences), topK: 3))
        return result.rows.map { RowScore(positions: Array($0.positions.suffix(from: group.context.count)), windows: 1) }
    }

    func expectSameAsSequences(_ scorer: Scorer, _ groups: [ChoiceGroup], tolerance: Double) throws -> Double {
        let result = try scorer.score(ScoringRequest(rows: .choices(groups), topK: 3))
        #expect(result.rows.count == groups.reduce(0) { $0 + $1.continuations.count })
        var worst = 0.0
        var r = 0
        for group in groups {
            for (expected, continuation) in zip(try sequenceScores(scorer, group), group.continuations) {
                let row = result.rows[r]
                #expect(row.scoredTokens == continuation.count)
                #expect(row.positions.map { $0?.token } == continuation.map { Optional($0) })
                worst = max(worst, try #require(maxLogprobDifference(row, expected)))
                #expect(row.positions == expected.positions, "choices and sequences differ in the last bits")
                #expect(abs(row.sumLogprob - expected.sumLogprob) <= tolerance * Double(continuation.count))
                #expect(row.isGreedy == expected.isGreedy)
                for (a, b) in zip(row.positions, expected.positions) {
                    #expect(a?.top.map(\.id) == b?.top.map(\.id))
                }
                r += 1
            }
        }
        #expect(worst <= tolerance)
        return worst
    }

    @Test func bundledModelMatchesSequenceScoring() throws {
        let scorer = Scorer(model: try Checkpoint.load(directory: Self.bundledModel))
        // "The capital of France is" → " Paris" / " London" / " a city in Europe", and a long context.
        let groups = [
            ChoiceGroup(context: [464, 3139, 286, 4881, 318], continuations: [[6342], [3576], [257, 1748, 287, 2031]]),
            ChoiceGroup(context: randomRows(count: 1, length: 200, vocab: 50257, seed: 3)[0],
                        continuations: randomRows(count: 4, length: 5, vocab: 50257, seed: 4) + [[11], [13, 198]]),
        ]
        let worst = try expectSameAsSequences(scorer, groups, tolerance: 2e-4)
        print("choices vs sequences (bundled model): max |Δ logprob| = \(worst)")
    }

    @Test func gpt2SizedModelMatchesSequenceScoringAcrossPasses() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(RandomCheckpoint.Preset.gpt2.config, seed: 1, into: dir.url)
        let scorer = Scorer(model: try Checkpoint.load(directory: dir.url), maxTokensPerForward: 1024)
        // 700 + 3 × 149 read tokens exceed one 1024-token pass: the group is split and its context re-read.
        let context = randomRows(count: 1, length: 700, vocab: 50257, seed: 8)[0]
        let groups = [ChoiceGroup(context: context, continuations: randomRows(count: 3, length: 150, vocab: 50257, seed: 9))]
        let result = try scorer.score(ScoringRequest(rows: .choices(groups)))
        #expect(result.forwardPasses == 2)
        #expect(result.tokensRead == 2 * 700 + 3 * 149)
        let worst = try expectSameAsSequences(scorer, groups, tolerance: 2e-4)
        print("choices vs sequences (GPT-2 124M, random weights, split group): max |Δ logprob| = \(worst)")
    }

    @Test func choicesShareAPassWithOtherRequests() throws {
        let scorer = Scorer(model: try Checkpoint.load(directory: Self.bundledModel))
        let group = ChoiceGroup(context: [464, 3797, 3332, 319, 262], continuations: [[2603], [3290, 13]])
        let plain = ScoringRequest(rows: .sequences(randomRows(count: 2, length: 30, vocab: 50257, seed: 2)))
        let results = scorer.score(batch: [plain, ScoringRequest(rows: .choices([group])), plain])
        #expect(results.map(\.forwardPasses) == [1, 1, 1])
        let alone = try scorer.score(ScoringRequest(rows: .choices([group])))
        for (a, b) in zip(alone.rows, results[1].rows) { #expect(a == b) }
        for (a, b) in zip(results[0].rows, results[2].rows) { #expect(a == b) }
    }

    @Test func invalidChoicesNameThePath() throws {
        let config = RandomCheckpoint.Preset.tiny.config   // vocab 1000, n_positions 64
        func error(_ groups: [ChoiceGroup]) -> ValidationError? {
            do { try ScoringRequest(rows: .choices(groups)).validate(for: config); return nil } catch { return error }
        }
        #expect(error([])?.parameter == "choices")
        #expect(error([ChoiceGroup(context: [], continuations: [[1]])])?.parameter == "choices[0].context")
        #expect(error([ChoiceGroup(context: [1], continuations: [])])?.parameter == "choices[0].continuations")
        #expect(error([ChoiceGroup(context: [1], continuations: [[1], []])])?.parameter == "choices[0].continuations[1]")
        #expect(error([ChoiceGroup(context: [1], continuations: [[1]]), ChoiceGroup(context: [1, 1000], continuations: [[1]])])?.parameter
            == "choices[1].context[1]")
        #expect(error([ChoiceGroup(context: [1], continuations: [[2, -1]])])?.parameter == "choices[0].continuations[0][1]")
        let long = error([ChoiceGroup(context: Array(repeating: 1, count: 60), continuations: [[1, 2, 3, 4], [1, 2, 3, 4, 5]])])
        #expect(long?.parameter == "choices[0].continuations[1]")
        #expect(long?.message.contains("n_positions (64)") == true)
        #expect(error([ChoiceGroup(context: Array(repeating: 1, count: 60), continuations: [[1, 2, 3, 4]])]) == nil)
        let next = ScoringRequest(rows: .choices([ChoiceGroup(context: [1], continuations: [[1]])]), nextToken: true)
        #expect(throws: ValidationError.self) { try next.validate(for: config) }
    }

    @Test func nextTokenIsTheArgmaxWithItsLogprob() throws {
        let scorer = Scorer(model: try Checkpoint.load(directory: Self.bundledModel))
        let short: [Int32] = [464, 3139, 286, 4881, 318]
        let long = randomRows(count: 1, length: 300, vocab: 50257, seed: 11)[0]   // > n_positions (256)
        let result = try scorer.score(ScoringRequest(rows: .sequences([short, long, [198]]), topK: 2, nextToken: true))
        for (sequence, row) in zip([short, long, [198]], result.rows) {
            let next = try #require(row.next)
            #expect(next.isGreedy)
            #expect(next.top.first?.id == next.token)
            #expect(row.positions.count == sequence.count)
            // The same position scored at the predicted token, through the inputs/targets form.
            let window = Array(sequence.suffix(256))
            let check = try scorer.score(ScoringRequest(
                rows: .inputsTargets(inputs: [window], targets: [Array(repeating: -100, count: window.count - 1) + [next.token]]), topK: 1))
            let expected = try #require(check.rows[0].positions.last!)
            #expect(expected.isGreedy)
            #expect(abs(expected.logprob - next.logprob) <= 1e-5)
        }
        // Scores of the sequence itself are unchanged by asking for the next token.
        let plain = try scorer.score(ScoringRequest(rows: .sequences([short, long, [198]]), topK: 2))
        for (a, b) in zip(plain.rows, result.rows) { #expect(try #require(maxLogprobDifference(a, b)) <= 1e-5) }
        #expect(plain.batch.scoredTokens == result.batch.scoredTokens)
    }
}

@Suite("Shared prefixes in sequences")
struct SharedPrefixTests {
    @Test func sharedPrefixesScoreLikeSeparateRows() throws {
        let scorer = Scorer(model: try Checkpoint.load(directory: ChoicesTests.bundledModel))
        let context = randomRows(count: 1, length: 120, vocab: 50257, seed: 21)[0]
        let endings = randomRows(count: 4, length: 7, vocab: 50257, seed: 22)
        // Four prompts of one question, one unrelated row, the bare context, and one sharing a shorter prefix.
        var rows = endings.map { context + $0 } + [randomRows(count: 1, length: 40, vocab: 50257, seed: 23)[0], context]
        rows.append(Array(context.prefix(50)) + [11, 13])
        rows.insert(context + [endings[0][0]], at: 2)   // one token past the prefix
        for nextToken in [false, true] {
            let shared = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 2, nextToken: nextToken, sharedPrefixMinimum: 16))
            let separate = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 2, nextToken: nextToken))
            #expect(shared.rows.count == rows.count)
            // The 120-token context is read once for the six rows that share it.
            #expect(shared.tokensRead <= separate.tokensRead - 5 * 120 + 50)
            for (a, b) in zip(shared.rows, separate.rows) {
                #expect(try #require(maxLogprobDifference(a, b)) <= 2e-5)
                #expect(a.scoredTokens == b.scoredTokens)
                #expect(a.isGreedy == b.isGreedy)
                for (x, y) in zip(a.positions, b.positions) { #expect(x?.top.map(\.id) == y?.top.map(\.id)) }
                #expect(a.next?.token == b.next?.token)
                if let x = a.next, let y = b.next { #expect(abs(x.logprob - y.logprob) <= 2e-5) }
            }
            #expect(abs(shared.batch.sumLogprob - separate.batch.sumLogprob) <= 1e-3)
        }
    }
}
