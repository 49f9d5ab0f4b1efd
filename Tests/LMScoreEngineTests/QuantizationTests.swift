import CKernels
import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// `--quantize q8_0`: weights quantized at load with llama.cpp's reference rounding, GPT-2's Conv1D
/// transposed first; the quantized model keeps the engine's guarantees (a row alone == the same row
/// packed, on every path the same bits) and stays close to the model as stored.
@Suite("Quantization at load")
struct QuantizationTests {
    /// llama.cpp's quantize_row_q8_0_ref written out: d = max/127, q = x · (1/d) rounded half away from zero.
    static func reference(_ x: [Float]) -> [(d: UInt16, qs: [Int8])] {
        stride(from: 0, to: x.count, by: 32).map { start in
            let values = x[start..<start + 32]
            let d = values.map(abs).max()! / 127
            let id: Float = d != 0 ? 1 / d : 0
            return (Float16(d).bitPattern, values.map { Int8(($0 * id).rounded(.toNearestOrAwayFromZero)) })
        }
    }

    @Test("The reference rounding: halves away from zero, x · (1/d) (not x / d), zero blocks zero")
    func referenceRounding() {
        var random = SplitMix64(seed: 21)
        var x = (0..<32 * 40).map { _ in Float(random.uniform() * 2 - 1) }
        for t in 0..<32 { x[t] = Float(t) - 15.5 }            // exact halves after scaling: ties away from zero
        for t in 32..<64 { x[t] = 0 }
        var out = [lmk_block_q8_0](repeating: lmk_block_q8_0(), count: x.count / 32)
        lmk_quantize_q8_0_reference(x, x.count, &out)
        for (b, expected) in Self.reference(x).enumerated() {
            let qs = withUnsafeBytes(of: out[b].qs) { $0.map { Int8(bitPattern: $0) } }
            #expect(out[b].d == expected.d && qs == expected.qs, "block \(b)")
        }
        // 127 · (15.5 / 15.5) = 127 and 127 · 0.5/15.5 = 4.096…: check one known value of the tie block.
        #expect(withUnsafeBytes(of: out[0].qs) { Int8(bitPattern: $0[0]) } == -127)
    }

    @Test("A Conv1D [in, out] matrix quantizes as its transpose [out, in] does")
    func conv1DIsTransposedFirst() {
        var random = SplitMix64(seed: 22)
        let rows = 64, columns = 40   // [in, out]
        let values = (0..<rows * columns).map { _ in Float(random.uniform() * 2 - 1) }
        let transposed = (0..<columns).flatMap { j in (0..<rows).map { i in values[i * columns + j] } }
        let storage = WeightStorage()
        values.withUnsafeBytes { a in
            transposed.withUnsafeBytes { t in
                let conv = storage.quantizedQ8(WeightMatrix(base: a.baseAddress!, elementType: .f32, rows: rows, columns: columns), transposed: true)
                let linear = storage.quantizedQ8(WeightMatrix(base: t.baseAddress!, elementType: .f32, rows: columns, columns: rows), transposed: false)
                #expect(conv.rows == columns && conv.columns == rows && conv.elementType == .q8_0)
                #expect(memcmp(conv.base, linear.base, columns * conv.rowBytes) == 0)
            }
        }
    }

    @Test("GPT-2 (Conv1D) and Qwen2 (nn.Linear, biases) quantized: rows alone == packed, every path the same bits, close to as stored",
          arguments: [RandomCheckpoint.Preset.tiny, .qwen2Tiny])
    func quantizedModelKeepsTheGuarantees(preset: RandomCheckpoint.Preset) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(preset.config, seed: 3, into: dir.url)
        let stored = try Checkpoint.load(directory: dir.url)
        let model = try Checkpoint.load(directory: dir.url, quantization: .q8_0(lmHead: true))
        let headStored = try Checkpoint.load(directory: dir.url, quantization: .q8_0(lmHead: false))
        #expect(model.summary.quantization?.hasPrefix("q8_0: ") == true && model.summary.quantization!.contains("LM head included"))
        #expect(headStored.summary.quantization!.contains("LM head as stored"))
        #expect(model.weights.lmHead.elementType == .q8_0 && headStored.weights.lmHead.elementType == .f32)
        #expect(model.weights.layers.allSatisfy { $0.mlpOut.weight.elementType == .q8_0 && $0.mlpOut.storedOutIn })

        let vocab = model.config.vocabSize
        var rows = randomRows(count: 5, length: 30, vocab: vocab, seed: 9)
        rows[2] = Array(rows[2].prefix(6))
        let request = ScoringRequest(rows: .sequences(rows), topK: 3)
        var byPath: [[RowScore]] = []
        for path in KernelPath.supported {
            let scorer = Scorer(model: model, compute: ComputeContext(path: path, threads: 2))
            let packed = try scorer.score(request).rows
            for (r, row) in rows.enumerated() {
                #expect(try scorer.score(ScoringRequest(rows: .sequences([row]), topK: 3)).rows[0] == packed[r], "\(path) row \(r)")
            }
            byPath.append(packed)
        }
        #expect(byPath.allSatisfy { $0 == byPath[0] }, "the kernel paths disagree")
        // Close to the weights as stored: 8-bit weights and activations move log-probs by a little.
        let asStored = try Scorer(model: stored).score(request).rows
        for (q, s) in zip(byPath[0], asStored) {
            let difference = try #require(maxLogprobDifference(q, s))
            #expect(difference < 0.05, "max |Δ logprob| \(difference)")
        }
    }

    @Test("Refused: a product whose input width is not a multiple of 32 (llama-tiny's MLP is 172 wide)")
    func refusals() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(RandomCheckpoint.Preset.llamaTiny.config, seed: 1, into: dir.url)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(directory: dir.url, quantization: .q8_0(lmHead: true)) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("has 172"))
        _ = try Checkpoint.load(directory: dir.url)
    }
}
