import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// The two-model fold and the per-position statistics against float64 numpy on HF transformers'
/// logits (Tests/Fixtures/compare, Scripts/make_compare_reference.py): the stored float32 logits go
/// through the LM head's folds tile by tile, and every per-position quantity is within 1e-6 relative
/// of numpy's (KL and Δp within 1e-7 absolute near 0); the summary equals numpy's llama.cpp formulas on
/// the same per-position numbers; Binoculars and Fast-DetectGPT equal the reference implementations'.
@Suite("Two-model fold vs numpy on HF logits")
struct TwoModelFoldTests {
    static let relative = 1e-6

    static func close(_ got: Double, _ want: Double, absolute: Double = 0) -> Bool {
        abs(got - want) <= max(relative * abs(want), absolute)
    }

    struct Folded {
        let score: TokenScore
        let comparison: PositionComparison
    }

    /// One position's logits folded in tiles of `tile` (several tiles, so the running maxima move).
    static func fold(model a: [Float], reference b: [Float], target: Int, tile: Int) -> Folded {
        let ops = ComputeContext(path: KernelPath.supported[0], threads: 1).ops
        var p = RunningLogSumExp(target: target, topK: 0), q = RunningLogSumExp(target: target, topK: 0)
        var statistics = StatisticsFold(wanted: [.entropy, .rank], target: target, targetLogit: a[target])
        var pair = PairFold()
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                var v0 = 0
                while v0 < a.count {
                    let width = min(tile, a.count - v0)
                    p.fold(a.baseAddress! + v0, count: width, firstIndex: v0, ops: ops)
                    q.fold(b.baseAddress! + v0, count: width, firstIndex: v0, ops: ops)
                    statistics.fold(a.baseAddress! + v0, count: width, firstIndex: v0, maximum: p.maximum)
                    pair.fold(a: a.baseAddress! + v0, b: b.baseAddress! + v0, count: width, maximumA: p.maximum, maximumB: q.maximum)
                    v0 += width
                }
            }
        }
        return Folded(score: statistics.attach(to: p.result()), comparison: pair.result(model: p, reference: q))
    }

    @Test("per position: entropy, rank, KL, Δp, same top, cross-entropy, variance, log-probs", arguments: [256, 1000, 97])
    func perPosition(tile: Int) throws {
        let fixture = try CompareFixture.load()
        let (modelLogits, referenceLogits) = try fixture.logits()
        var i = 0, worst: [String: Double] = [:]
        func note(_ name: String, _ got: Double, _ want: Double) {
            worst[name] = max(worst[name] ?? 0, abs(got - want) / max(abs(want), 1e-300))
        }
        for (r, row) in fixture.rows.enumerated() {
            let sequence = fixture.sequences[r]
            for t in row.logprobs.indices {
                let f = Self.fold(model: modelLogits[i], reference: referenceLogits[i], target: Int(sequence[t + 1]), tile: tile)
                let c = f.comparison
                let at = "row \(r) position \(t + 1)"
                #expect(Self.close(f.score.logprob, row.logprobs[t]), "\(at) logprob \(f.score.logprob) vs \(row.logprobs[t])")
                #expect(Self.close(c.reference.logprob, row.reference_logprobs[t]), "\(at) reference logprob")
                #expect(Self.close(f.score.entropy!, row.entropy[t]), "\(at) entropy \(f.score.entropy!) vs \(row.entropy[t])")
                #expect(f.score.rank == row.rank[t], "\(at) rank \(f.score.rank!) vs \(row.rank[t])")
                #expect((f.score.rank == 1) == f.score.isGreedy, "\(at) rank 1 ⇔ greedy")
                #expect(Self.close(c.kl, row.kl[t], absolute: 1e-7), "\(at) KL \(c.kl) vs \(row.kl[t])")
                #expect(Self.close(c.deltaP, row.delta_p[t], absolute: 1e-9), "\(at) Δp \(c.deltaP) vs \(row.delta_p[t])")
                #expect(c.sameTop == row.same_top[t], "\(at) same top")
                #expect(Self.close(c.crossEntropy, row.cross_entropy[t]), "\(at) cross-entropy")
                #expect(Self.close(c.logprobVariance, row.logprob_variance[t]), "\(at) variance \(c.logprobVariance) vs \(row.logprob_variance[t])")
                note("kl", c.kl, row.kl[t]); note("entropy", f.score.entropy!, row.entropy[t])
                note("variance", c.logprobVariance, row.logprob_variance[t]); note("delta_p", c.deltaP, row.delta_p[t])
                i += 1
            }
        }
        print("tile \(tile): largest relative errors \(worst.sorted { $0.key < $1.key })")
    }

    @Test("KL near 0: two nearly equal distributions, within 1e-7 absolute of the exact value")
    func klNearZero() {
        var random = SplitMix64(seed: 11)
        for scale in [1e-3, 1e-4, 1e-5] as [Float] {
            let b = (0..<5000).map { _ in Float(random.uniform() * 20 - 10) }
            let a = b.map { $0 + scale * Float(random.uniform() - 0.5) }
            // The exact KL(q‖p) in Double on the same float32 values, by plain sums.
            let la = a.map(Double.init), lb = b.map(Double.init)
            let ma = la.max()!, mb = lb.max()!
            let lseA = ma + Foundation.log(la.reduce(0) { $0 + Foundation.exp($1 - ma) })
            let lseB = mb + Foundation.log(lb.reduce(0) { $0 + Foundation.exp($1 - mb) })
            var exact = 0.0
            for v in 0..<a.count { exact += Foundation.exp(lb[v] - lseB) * ((lb[v] - lseB) - (la[v] - lseA)) }
            let folded = Self.fold(model: a, reference: b, target: 3, tile: 1024).comparison.kl
            #expect(abs(folded - exact) <= 1e-7, "scale \(scale): \(folded) vs \(exact)")
            #expect(abs(folded - exact) <= 1e-6 * exact + 1e-12, "scale \(scale): \(folded) vs \(exact)")
        }
    }

    @Test("Binoculars and Fast-DetectGPT per row equal the reference implementations' formulas")
    func detectionScores() throws {
        let fixture = try CompareFixture.load()
        let (modelLogits, referenceLogits) = try fixture.logits()
        var i = 0
        for (r, row) in fixture.rows.enumerated() {
            var positions: [PositionComparison?] = [nil]
            var scores: [TokenScore?] = [nil]
            for t in row.logprobs.indices {
                let f = Self.fold(model: modelLogits[i], reference: referenceLogits[i], target: Int(fixture.sequences[r][t + 1]), tile: 256)
                positions.append(f.comparison)
                scores.append(f.score)
                i += 1
            }
            let comparison = RowComparison(positions: positions, model: RowScore(positions: scores, windows: 1),
                                           reference: RowScore(positions: positions.map { $0?.reference }, windows: 1))
            #expect(Self.close(comparison.binoculars!, row.binoculars), "row \(r) binoculars \(comparison.binoculars!) vs \(row.binoculars)")
            #expect(Self.close(comparison.fastDetectGPT!, row.fast_detect_gpt), "row \(r) fast-detectgpt \(comparison.fastDetectGPT!) vs \(row.fast_detect_gpt)")
        }
    }

    @Test("the KLD summary equals numpy's llama.cpp formulas on the same per-position numbers")
    func summary() throws {
        let fixture = try CompareFixture.load()
        var positions: [KLDSummary.Position] = []
        for row in fixture.rows {
            for t in row.kl.indices {
                positions.append(KLDSummary.Position(kl: row.kl[t], deltaP: row.delta_p[t], sameTop: row.same_top[t],
                                                     logprob: row.logprobs[t], referenceLogprob: row.reference_logprobs[t]))
            }
        }
        let summary = try #require(KLDSummary(positions))
        let got = Self.leaves(summary)
        let want = Dictionary(uniqueKeysWithValues: JSONNumberTree.object(fixture.kld).leaves())
        #expect(Set(got.keys) == Set(want.keys), "\(Set(got.keys).symmetricDifference(want.keys))")
        for (key, value) in want {
            let g = try #require(got[key], "\(key)")
            #expect(abs(g - value) <= 1e-12 * max(abs(value), 1), "\(key): \(g) vs \(value)")
        }
    }

    /// The summary as the fixture's (and the API's `batch.kld`) paths.
    static func leaves(_ s: KLDSummary) -> [String: Double] {
        var out: [String: Double] = ["positions": Double(s.count)]
        func distribution(_ prefix: String, _ d: KLDSummary.Distribution) {
            out["\(prefix).median"] = d.median
            out["\(prefix).minimum"] = d.minimum
            out["\(prefix).maximum"] = d.maximum
            for (label, value) in d.percentiles { out["\(prefix).percentiles.\(label)"] = value }
        }
        func estimate(_ prefix: String, _ e: KLDSummary.Estimate) {
            out["\(prefix).value"] = e.value
            out["\(prefix).uncertainty"] = e.uncertainty
        }
        out["kl_divergence.mean"] = s.klMean.value
        out["kl_divergence.uncertainty"] = s.klMean.uncertainty
        distribution("kl_divergence", s.kl)
        out["delta_p.mean"] = s.deltaPMean.value
        out["delta_p.uncertainty"] = s.deltaPMean.uncertainty
        out["delta_p.rms"] = s.deltaPRMS.value
        out["delta_p.rms_uncertainty"] = s.deltaPRMS.uncertainty
        distribution("delta_p", s.deltaP)
        out["same_top.fraction"] = s.sameTop.value
        out["same_top.uncertainty"] = s.sameTop.uncertainty
        estimate("perplexity", s.perplexity)
        estimate("reference_perplexity", s.referencePerplexity)
        estimate("ln_perplexity_ratio", s.lnPerplexityRatio)
        estimate("perplexity_ratio", s.perplexityRatio)
        estimate("perplexity_difference", s.perplexityDifference)
        out["ln_perplexity_correlation"] = s.lnPerplexityCorrelation
        return out
    }
}

/// A rank counts the logits above the target's in the tiles before the target's own, so the target's
/// logit is computed first, by a [1, 1] product (LMHead+Statistics.swift). That value must be the bits
/// the tile's product gives the same element — whatever the rows in the block (the GEMM's small-M and
/// panel paths), the tile, the path, F32 or F16 weights — or ranks near ties would be off.
@Suite("LM head: the target's logit computed alone is its tile's value")
struct TargetLogitTests {
    @Test(arguments: [TensorDType.f32, .f16])
    func sameBitsAsTheTile(dtype: TensorDType) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = RandomCheckpoint.Preset.tinyGPT2Vocab.config   // 50,257 ids: 13 tiles
        try makeCheckpoint(config, dtype: dtype, seed: 3, into: dir.url)
        let model = try Checkpoint.load(directory: dir.url)
        let C = config.nEmbd, V = config.vocabSize
        var random = SplitMix64(seed: 17)
        for path in KernelPath.supported {
            let compute = ComputeContext(path: path, threads: 2)
            let head = LMHead(weight: model.weights.lmHead, vocabSize: V, channels: C, softcap: nil)
            for rows in [1, 5, 16, 33, 70] {
                let hidden = (0..<rows * C).map { _ in Float(random.uniform() * 4 - 2) }
                let block = (0..<rows).map {
                    ScoredPosition(hiddenRow: $0, target: Int32(Int(random.uniform() * Double(V)) % V), topK: 0, statistics: [.rank])
                }[...]
                let folds = hidden.withUnsafeBufferPointer { hidden in
                    head.gather(hidden: hidden.baseAddress!, block: block)
                    return head.statisticsFolds(block, compute: compute)
                }
                var v0 = 0, checked = 0
                while v0 < V {
                    let width = min(LMHead.vocabTile, V - v0)
                    matmul(m: rows, n: width, k: C, a: head.gathered, lda: C, b: head.weight.rowSlice(v0..<v0 + width), transposeB: true,
                           c: head.logits, ldc: width, compute: compute)
                    for (i, position) in block.enumerated() where (v0..<v0 + width).contains(Int(position.target)) {
                        let tile = head.logits[i * width + Int(position.target) - v0]
                        #expect(tile.bitPattern == folds[i].targetLogit!.bitPattern,
                                "\(path) \(dtype) rows \(rows) row \(i): tile \(tile) vs alone \(folds[i].targetLogit!)")
                        checked += 1
                    }
                    v0 += width
                }
                #expect(checked == rows)
            }
        }
    }
}
