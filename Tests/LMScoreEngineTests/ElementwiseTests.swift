import CKernels
import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// The element-wise ops (Sources/CKernels/elementwise_template.h): the same bits on every path this
/// CPU runs (avx512, avx2, portable), each op against a Double reference, and an element's result
/// independent of where it sits in the buffer (the GELU tail: I % 8 ≠ 0, a row alone vs packed).
@Suite("Element-wise kernels")
struct ElementwiseTests {
    static let paths = KernelPath.supported
    let reference = ComputeContext(path: .portable, threads: 1).ops

    func values(_ count: Int, seed: UInt64, scale: Double = 4) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float((random.uniform() * 2 - 1) * scale) }
    }

    /// Runs `op` on a copy of `input` with each path's ops and returns the outputs.
    func outputs(_ input: [Float], _ op: (lmk_elementwise, UnsafeMutablePointer<Float>) -> Void) -> [(KernelPath, [Float])] {
        Self.paths.map { path in
            var x = input
            x.withUnsafeMutableBufferPointer { op(ComputeContext(path: path, threads: 1).ops, $0.baseAddress!) }
            return (path, x)
        }
    }

    func sameBits(_ results: [(KernelPath, [Float])], _ what: String) {
        let first = results[0].1.map(\.bitPattern)
        for (path, x) in results.dropFirst() {
            #expect(x.map(\.bitPattern) == first, "\(what): \(path) differs from \(results[0].0)")
        }
    }

    @Test("every op gives the same bits on every path", arguments: [1, 7, 8, 9, 60, 100, 1031])
    func sameBitsOnEveryPath(count: Int) {
        #expect(Self.paths.contains(.portable))
        let x = values(2 * count, seed: UInt64(count))
        let gain = values(count, seed: 99, scale: 1), bias = values(count, seed: 98, scale: 1)
        let cos = values(count, seed: 97, scale: 1), sin = values(count, seed: 96, scale: 1)
        gain.withUnsafeBufferPointer { g in
            bias.withUnsafeBufferPointer { b in
                sameBits(outputs(x) { ops, p in ops.layer_norm(p, p, 2, count, g.baseAddress!, b.baseAddress!, 1e-5) }, "layer_norm")
                sameBits(outputs(x) { ops, p in ops.rms_norm(p, p, 2, count, count, g.baseAddress!, 1, 1e-6) }, "rms_norm")
                sameBits(outputs(x) { ops, p in ops.add_rows(p, 2, count, count, b.baseAddress!) }, "add_rows")
                sameBits(outputs(x) { ops, p in ops.add(p, b.baseAddress!, count) }, "add")
            }
        }
        for activation in [LMK_GELU_TANH, LMK_GELU_ERF, LMK_SILU] {
            sameBits(outputs(x) { ops, p in ops.activate(p, 2 * count, activation) }, "activate \(activation)")
            sameBits(outputs(x) { ops, p in ops.gated(p, 1, count, activation) }, "gated \(activation)")
        }
        sameBits(outputs(x) { ops, p in ops.softcap(p, 2 * count, 3) }, "softcap")
        sameBits(outputs(x) { ops, p in ops.scale(p, 2 * count, 5.65625) }, "scale")
        if count % 2 == 0 {
            cos.withUnsafeBufferPointer { c in
                sin.withUnsafeBufferPointer { s in
                    sameBits(outputs(x) { ops, p in ops.rotate_heads(p, 2, count, c.baseAddress!, s.baseAddress!, count / 2) }, "rotate_heads")
                }
            }
        }
        // The last 3 queries of a row of `keys` keys (query keys − 1 sees them all).
        let keys = max(count, 3)
        let scores = values(3 * keys, seed: 5, scale: 10)
        sameBits(outputs(scores) { ops, p in ops.softmax_causal(p, 3, keys, keys - 3, 0, 0) }, "softmax")
        sameBits(outputs(scores) { ops, p in ops.softmax_causal(p, 3, keys, keys - 3, 4, 2.5) }, "softmax window softcap")
    }

    /// The norms take four rows at a time (their sums' chains overlapping): a row's bits must be those of
    /// the row normed alone, wherever it falls (11 rows: two groups of four, then three alone), on every path.
    @Test(arguments: paths)
    func normsOfARowAloneOrInAGroup(path: KernelPath) {
        let ops = ComputeContext(path: path, threads: 1).ops
        let rows = 11, width = 100
        let x = values(rows * width, seed: 21)
        let gain = values(width, seed: 22, scale: 1), bias = values(width, seed: 23, scale: 1)
        gain.withUnsafeBufferPointer { g in
            bias.withUnsafeBufferPointer { b in
                for offset: Float in [0, 1] {   // RMS norm's plain gain and Gemma's (1 + w)
                    var together = x, alone = x, layerTogether = x, layerAlone = x
                    ops.rms_norm(x, &together, rows, width, width, g.baseAddress!, offset, 1e-6)
                    ops.layer_norm(x, &layerTogether, rows, width, g.baseAddress!, b.baseAddress!, 1e-5)
                    for r in 0..<rows {
                        x.withUnsafeBufferPointer { x in
                            alone.withUnsafeMutableBufferPointer { ops.rms_norm(x.baseAddress! + r * width, $0.baseAddress! + r * width, 1, width, width, g.baseAddress!, offset, 1e-6) }
                            layerAlone.withUnsafeMutableBufferPointer { ops.layer_norm(x.baseAddress! + r * width, $0.baseAddress! + r * width, 1, width, g.baseAddress!, b.baseAddress!, 1e-5) }
                        }
                    }
                    #expect(together.map(\.bitPattern) == alone.map(\.bitPattern), "\(path) rms_norm, offset \(offset)")
                    #expect(layerTogether.map(\.bitPattern) == layerAlone.map(\.bitPattern), "\(path) layer_norm")
                }
            }
        }
    }

    @Test("each op against Double arithmetic")
    func againstDouble() {
        let count = 77
        let x = values(count, seed: 1)
        func check(_ what: String, tolerance: Double, _ op: (UnsafeMutablePointer<Float>) -> Void, _ expected: (Double) -> Double) {
            var y = x
            y.withUnsafeMutableBufferPointer { op($0.baseAddress!) }
            let worst = zip(x, y).map { abs(Double($1) - expected(Double($0))) / max(1, abs(expected(Double($0)))) }.max()!
            #expect(worst <= tolerance, "\(what): relative error \(worst)")
        }
        let ops = reference
        check("gelu tanh", tolerance: 1e-6, { ops.activate($0, count, LMK_GELU_TANH) }) { 0.5 * $0 * (1 + tanh(0.7978845608028654 * ($0 + 0.044715 * $0 * $0 * $0))) }
        check("gelu erf", tolerance: 1e-6, { ops.activate($0, count, LMK_GELU_ERF) }) { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        check("silu", tolerance: 1e-6, { ops.activate($0, count, LMK_SILU) }) { $0 / (1 + exp(-$0)) }
        check("softcap 3", tolerance: 1e-6, { ops.softcap($0, count, 3) }) { 3 * tanh($0 / 3) }
        check("softcap 50", tolerance: 1e-6, { ops.softcap($0, count, 50) }) { 50 * tanh($0 / 50) }
        // RMSNorm with Gemma's (1 + w) and LayerNorm, one row.
        let gain = values(count, seed: 2, scale: 0.5)
        let rms = (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(count) + 1e-6).squareRoot()
        var y = x
        y.withUnsafeMutableBufferPointer { ops.rms_norm($0.baseAddress!, $0.baseAddress!, 1, count, count, gain, 1, 1e-6) }
        for i in 0..<count { #expect(abs(Double(y[i]) - Double(x[i]) / rms * (1 + Double(gain[i]))) <= 1e-5) }
        // Softmax over a causal row with a window of 4 and a soft-cap: the hidden keys are exactly 0.
        var scores = values(10, seed: 3, scale: 8)
        let original = scores
        scores.withUnsafeMutableBufferPointer { ops.softmax_causal($0.baseAddress!, 1, 10, 7, 4, 2) }
        let visible = (4...7).map { exp(2 * tanh(Double(original[$0]) / 2)) }
        for j in 0..<10 {
            let want = (4...7).contains(j) ? visible[j - 4] / visible.reduce(0, +) : 0
            #expect(abs(Double(scores[j]) - want) <= 1e-6, "softmax key \(j)")
        }
    }

    /// An element's activation does not depend on where it sits: GELU over [T, I] once ran its last
    /// T·I mod 8 values through tanh instead of the vector formula, so the last token of a row alone
    /// differed from the same token packed before others.
    @Test("activations: an element's bits do not depend on its place in the buffer")
    func positionIndependent() {
        let I = 36   // I % 8 ≠ 0
        let rows = values(5 * I, seed: 4)
        for path in Self.paths {
            let ops = ComputeContext(path: path, threads: 1).ops
            for activation in [LMK_GELU_TANH, LMK_GELU_ERF, LMK_SILU] {
                var packed = rows
                packed.withUnsafeMutableBufferPointer { ops.activate($0.baseAddress!, 5 * I, activation) }
                for t in 0..<5 {
                    var alone = Array(rows[t * I..<(t + 1) * I])
                    alone.withUnsafeMutableBufferPointer { ops.activate($0.baseAddress!, I, activation) }
                    #expect(alone.map(\.bitPattern) == packed[t * I..<(t + 1) * I].map(\.bitPattern), "\(path) \(activation) row \(t)")
                }
            }
        }
    }

    /// The model-level form: a GPT-2 with n_inner 36 (I % 8 ≠ 0). Each prompt's next-token
    /// distribution (what `max_tokens: 1` reads) and scores are the same bits alone and packed, last
    /// in the batch or not.
    @Test("GELU MLP with I % 8 ≠ 0: the last position alone == packed")
    func geluTailBatchInvariance() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try ModelConfig(json: ["model_type": "gpt2", "vocab_size": 300, "n_positions": 64, "n_embd": 32, "n_layer": 2,
                                            "n_head": 4, "n_inner": 36], path: "config.json")
        try makeCheckpoint(config, seed: 11, into: dir.url)
        for path in Self.paths {
            let scorer = Scorer(model: try Checkpoint.load(directory: dir.url), compute: ComputeContext(path: path, threads: 2))
            let prompts = randomRows(count: 4, length: 9, vocab: 300, seed: 12).enumerated().map { Array($1.prefix(3 + 2 * $0)) }
            let packed = try scorer.score(ScoringRequest(rows: .sequences(prompts), topK: 5, nextToken: true))
            for (r, prompt) in prompts.enumerated() {
                let alone = try scorer.score(ScoringRequest(rows: .sequences([prompt]), topK: 5, nextToken: true)).rows[0]
                #expect(alone.next != nil && alone == packed.rows[r], "\(path): prompt \(r) (\(prompt.count) tokens) alone vs packed")
            }
        }
    }
}
