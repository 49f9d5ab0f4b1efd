import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// `Scorer.compare` and per-position statistics end to end: the engine's forward passes and folds
/// against the HF float64 reference (tolerances of ReferenceTests: the forward pass's float32 error),
/// and the guarantees that make them usable: the model's and the reference's log-probs are the bits
/// each scores alone, statistics never change a log-prob, and packing never changes anything.
@Suite("Two-model scoring and statistics", .enabled(if: Fixtures.hasSharedReference, "../shared/reference not found"))
struct CompareScoringTests {
    static func scorers() throws -> (model: Scorer, reference: Scorer) {
        (Scorer(model: try Checkpoint.load(directory: CompareFixture.modelDirectory)),
         Scorer(model: try Checkpoint.load(directory: CompareFixture.referenceDirectory)))
    }

    @Test("against HF float64: log-probs, KL, Δp, cross-entropy, variance, entropy, Binoculars, Fast-DetectGPT")
    func againstReference() throws {
        let fixture = try CompareFixture.load()
        let (model, reference) = try Self.scorers()
        try model.checkComparable(with: reference)
        let request = ScoringRequest(rows: .sequences(fixture.sequences), statistics: [.entropy, .rank])
        let result = model.compare(batch: [request], reference: reference)[0]
        let comparison = try #require(result.comparison)
        var worst: [String: Double] = [:]
        func check(_ name: String, _ got: Double, _ want: Double, _ tolerance: Double) {
            worst[name] = max(worst[name] ?? 0, abs(got - want))
            #expect(abs(got - want) <= tolerance, "\(name): \(got) vs \(want)")
        }
        for (r, row) in fixture.rows.enumerated() {
            let scores = result.rows[r].positions, compared = comparison.rows[r].positions
            #expect(scores[0] == nil && compared[0] == nil)
            for t in row.logprobs.indices {
                let score = try #require(scores[t + 1]), c = try #require(compared[t + 1])
                check("logprob", score.logprob, row.logprobs[t], 2e-4)
                check("reference_logprob", c.reference.logprob, row.reference_logprobs[t], 2e-4)
                check("entropy", score.entropy!, row.entropy[t], 2e-4)
                check("kl", c.kl, row.kl[t], 2e-4)
                check("delta_p", c.deltaP, row.delta_p[t], 2e-4)
                check("cross_entropy", c.crossEntropy, row.cross_entropy[t], 2e-4)
                check("logprob_variance", c.logprobVariance, row.logprob_variance[t], 2e-3)
            }
            check("binoculars", comparison.rows[r].binoculars!, row.binoculars, 1e-4)
            check("fast_detect_gpt", comparison.rows[r].fastDetectGPT!, row.fast_detect_gpt, 1e-3)
        }
        let summary = try #require(comparison.summary)
        #expect(summary.count == fixture.rows.reduce(0) { $0 + $1.kl.count })
        print("compare vs HF float64: largest |Δ| \(worst.sorted { $0.key < $1.key })")
    }

    @Test("the model's and the reference's log-probs are the bits each scores alone; statistics change no log-prob")
    func sameBitsAsAlone() throws {
        let fixture = try CompareFixture.load()
        let (model, reference) = try Self.scorers()
        // A long row too: sliding windows (the context is 64).
        let rows = fixture.sequences + [(0..<150).map { Int32(($0 * 37 + 11) % fixture.vocab_size) }]
        let plain = ScoringRequest(rows: .sequences(rows), topK: 3)
        var withStatistics = plain
        withStatistics.statistics = [.entropy, .rank]
        let compared = model.compare(batch: [withStatistics], reference: reference)[0]
        let alone = try model.score(withStatistics)
        let aloneWithout = try model.score(plain)
        let referenceAlone = try reference.score(plain)
        #expect(compared.rows == alone.rows)
        #expect(compared.comparison!.rows.map(\.reference) == referenceAlone.rows)
        for (a, b) in zip(alone.rows, aloneWithout.rows) {
            #expect(a.positions.map { $0?.logprob } == b.positions.map { $0?.logprob })
            #expect(a.positions.map { $0?.top } == b.positions.map { $0?.top })
        }
        #expect(compared.rows[2].windows > 1)
    }

    @Test("packed with other requests: every number the same bits as alone")
    func packing() throws {
        let fixture = try CompareFixture.load()
        let (model, reference) = try Self.scorers()
        let a = ScoringRequest(rows: .sequences([fixture.sequences[0]]), statistics: [.entropy])
        let b = ScoringRequest(rows: .sequences([fixture.sequences[1], Array(fixture.sequences[0].prefix(9))]), statistics: [.rank])
        let together = model.compare(batch: [a, b], reference: reference)
        #expect(together[0] == model.compare(batch: [a], reference: reference)[0])
        #expect(together[1] == model.compare(batch: [b], reference: reference)[0])
        let scored = model.score(batch: [a, b])
        #expect(scored[0] == (try model.score(a)))
        #expect(scored[1] == (try model.score(b)))
        #expect(scored[0].rows[0].positions[1]?.rank == nil && scored[1].rows[0].positions[1]?.entropy == nil)
    }

    @Test("reference (in the opposite direction too) from two threads at once: no deadlock, same results")
    func opposite() async throws {
        let fixture = try CompareFixture.load()
        let (model, reference) = try Self.scorers()
        let request = ScoringRequest(rows: .sequences(fixture.sequences))
        let forward = model.compare(batch: [request], reference: reference)[0]
        let backward = reference.compare(batch: [request], reference: model)[0]
        async let x = Task.detached { (0..<3).map { _ in model.compare(batch: [request], reference: reference)[0] } }.value
        async let y = Task.detached { (0..<3).map { _ in reference.compare(batch: [request], reference: model)[0] } }.value
        let (xs, ys) = await (x, y)
        #expect(xs.allSatisfy { $0 == forward } && ys.allSatisfy { $0 == backward })
        // KL(q‖p) is not symmetric, but both directions see the same log-probs swapped.
        #expect(forward.comparison!.rows[0].reference == backward.rows[0])
    }

    @Test("incomparable models are refused with the reason")
    func incomparable() throws {
        let (model, _) = try Self.scorers()
        #expect(throws: ValidationError.self) { try model.checkComparable(with: model) }
        let other = Scorer(model: try Checkpoint.load(directory: Fixtures.committedReference.appendingPathComponent("qwen2-untied")))
        do {
            try model.checkComparable(with: other)
            Issue.record("vocabularies 1000 and 300 were accepted")
        } catch {
            #expect(error.parameter == "reference" && error.message.contains("1000") && error.message.contains("300"))
        }
    }

    @Test("statistics on every fixture family: rank 1 ⇔ greedy, entropy ≥ 0, log-probs unchanged")
    func statisticsOnEveryFamily() throws {
        let directories = Fixtures.sharedFixtureNames().map { Fixtures.sharedReference.appendingPathComponent($0) }
            + Fixtures.committedFixtureNames().map { Fixtures.committedReference.appendingPathComponent($0) }
        for directory in directories {
            let scorer = Scorer(model: try Checkpoint.load(directory: directory))
            let reference = try Fixtures.loadReference(directory)
            guard let sequences = reference.cases.first(where: { $0.name == "sequences" })?.sequences else { continue }
            let plain = try scorer.score(ScoringRequest(rows: .sequences(sequences)))
            let stats = try scorer.score(ScoringRequest(rows: .sequences(sequences), statistics: [.entropy, .rank]))
            for (p, s) in zip(plain.rows, stats.rows) {
                #expect(p.positions.map { $0?.logprob } == s.positions.map { $0?.logprob }, "\(directory.lastPathComponent)")
                for case let score? in s.positions {
                    #expect((score.rank == 1) == score.isGreedy, "\(directory.lastPathComponent): rank \(score.rank!) greedy \(score.isGreedy)")
                    #expect(score.entropy! >= 0 && score.entropy! <= Foundation.log(Double(scorer.config.vocabSize)) + 1e-9)
                    #expect(score.rank! >= 1 && score.rank! <= scorer.config.vocabSize)
                }
            }
        }
    }
}
