import CKernels
import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// `--numerics llama.cpp` (Numerics.swift): llama.cpp's GELU table against values read from llama.cpp
/// itself, its Q8_0 product order against that order written here in Swift, the same bits on every path
/// the CPU has, and a model's scores with it the same bits alone or packed.
@Suite("llama.cpp numerics")
struct LlamaCppNumericsTests {
    /// Entries of ggml_table_gelu_f16 read from llama.cpp 0.3.36's libggml-cpu.so (ctypes, after
    /// ggml_cpu_init), on an AMD EPYC Zen 4 with glibc's tanhf: (FP16 x, FP16 GELU(x)). 0xbfff (x = −1.999)
    /// is the entry only the fused multiply-add gcc made of 1 + 0.044715·x·x gives.
    static let recorded: [(UInt16, UInt16)] = [
        (0x0000, 0x0000), (0x0001, 0x0000), (0x03ff, 0x0200), (0x1400, 0x1001), (0x3555, 0x32b9), (0x3800, 0x3588),
        (0x3c00, 0x3abb), (0x3d9a, 0x3d26), (0x4000, 0x3fd2), (0x4400, 0x4400), (0x4880, 0x4880), (0x48ff, 0x48ff),
        (0x3a8d, 0x3933), (0x35a7, 0x3336), (0x8001, 0x8000), (0xb400, 0xae6c), (0xb800, 0xb0f0), (0xbc00, 0xb115),
        (0xbe66, 0xada0), (0xbfff, 0xa9d3), (0xc000, 0xa9d0), (0xc200, 0x9b73), (0xc400, 0x849a), (0xc800, 0x8000),
        (0xc8ff, 0x8000), (0x7c00, 0x7c00), (0xfc00, 0xfe00), (0x7e00, 0x7e00),
    ]
    /// FNV-1a (64-bit) of all 65,536 entries of that table, little-endian, read the same way.
    static let recordedChecksum: UInt64 = 0xab04_4edb_a0ed_200c

    static func table() -> UnsafeBufferPointer<UInt16> { UnsafeBufferPointer(start: lmk_gelu_f16_table(), count: 1 << 16) }

    @Test("The GELU table is llama.cpp's: recorded entries and a checksum of all 65,536")
    func geluTableIsLlamaCpps() {
        let table = Self.table()
        for (x, gelu) in Self.recorded {
            #expect(table[Int(x)] == gelu, "x = 0x\(String(x, radix: 16))")
        }
        var checksum: UInt64 = 0xcbf2_9ce4_8422_2325
        for entry in table {
            for byte in [UInt8(entry & 0xff), UInt8(entry >> 8)] { checksum = (checksum ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }
        #expect(checksum == Self.recordedChecksum)
    }

    /// ggml_vec_gelu_f32 with GGML_GELU_FP16, written out.
    static func ggmlGELU(_ x: Float) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return Float(Float16(bitPattern: table()[Int(Float16(x).bitPattern)]))
    }

    @Test("Both GELUs go through the table, SiLU does not; every path gives the same bits", arguments: [1, 9, 100, 1031])
    func activations(count: Int) {
        var random = SplitMix64(seed: UInt64(count))
        var x = (0..<2 * count).map { _ in Float(random.uniform() * 24 - 12) }   // past ±10 too
        x[0] = -10; x[x.count - 1] = 10
        for activation in [LMK_GELU_TANH, LMK_GELU_ERF, LMK_SILU] {
            var results: [[Float]] = []
            for path in KernelPath.supported {
                let ops = ComputeContext(path: path, threads: 1).with(numerics: .llamaCpp).ops
                var activated = x, gated = x
                activated.withUnsafeMutableBufferPointer { ops.activate($0.baseAddress!, 2 * count, activation) }
                gated.withUnsafeMutableBufferPointer { ops.gated($0.baseAddress!, 1, count, activation) }
                results.append(activated + gated)
            }
            for other in results.dropFirst() { #expect(other.map(\.bitPattern) == results[0].map(\.bitPattern), "\(activation)") }
            if activation == LMK_SILU {
                var own = x
                own.withUnsafeMutableBufferPointer { ComputeContext(path: .portable, threads: 1).ops.activate($0.baseAddress!, 2 * count, activation) }
                #expect(Array(results[0][..<(2 * count)]).map(\.bitPattern) == own.map(\.bitPattern), "SiLU stays lmscore's")
            } else {
                let expected = x.map(Self.ggmlGELU) + (0..<count).map { Self.ggmlGELU(x[$0]) * x[count + $0] } + x[count...]
                #expect(results[0].map(\.bitPattern) == expected.map(\.bitPattern), "\(activation)")
            }
        }
    }

    /// llamafile's tinyBLAS_Q0_AVX order, written out: 8 lanes of 4-product sums, one FMA per block and
    /// lane, then ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
    static func tinyBLASProduct(a: [lmk_block_q8_0], w: [lmk_block_q8_0], m: Int, n: Int, blocks: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var lane = [Float](repeating: 0, count: 8)
                for b in 0..<blocks {
                    let x = a[i * blocks + b], y = w[j * blocks + b]
                    let products = zip(Q8KernelTests.quants(x), Q8KernelTests.quants(y)).map { $0 * $1 }
                    let d = Float(Float16(bitPattern: x.d)) * Float(Float16(bitPattern: y.d))
                    for l in 0..<8 { lane[l] = lane[l].addingProduct(d, Float(products[4 * l..<4 * l + 4].reduce(0, +))) }
                }
                c[i * n + j] = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]))
            }
        }
        return c
    }

    @Test("Q8_0 products in tinyBLAS's order on every path, and not lmscore's own order")
    func q8ProductOrder() {
        var random = SplitMix64(seed: 22)
        let m = 5, n = 37, blocks = 24
        let a = Q8KernelTests.quantize((0..<m * blocks * 32).map { _ in Float(random.uniform() * 4 - 2) })
        let w = Q8KernelTests.quantize((0..<n * blocks * 32).map { _ in Float(random.uniform() * 0.2 - 0.1) })
        let expected = Self.tinyBLASProduct(a: a, w: w, m: m, n: n, blocks: blocks)
        for path in KernelPath.supported {
            for numerics in Numerics.allCases {
                var c = [Float](repeating: 0, count: m * n)
                c.withUnsafeMutableBufferPointer { out in
                    ComputeContext(path: path, threads: 1).with(numerics: numerics)
                        .gemmQ8(m: m, n: n, blocks: blocks, a: a, w: w, c: out.baseAddress!, ldc: n, accumulate: false)
                }
                if numerics == .llamaCpp {
                    #expect(c.map(\.bitPattern) == expected.map(\.bitPattern), "\(path)")
                } else {
                    #expect(c.map(\.bitPattern) != expected.map(\.bitPattern), "\(path): the two orders differ somewhere")
                }
            }
        }
    }

    @Test("A Q8_0 GPT-2 with llama.cpp's numerics: alone and packed are the same bits, and its scores are not the default's")
    func batchInvariant() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(RandomCheckpoint.Preset.tinyGPT2Vocab.config, seed: 3, into: dir.url)
        let model = try Checkpoint.load(directory: dir.url, quantization: Quantization(name: "q8_0", lmHead: true))
        let scorer = Scorer(model: model.with(numerics: .llamaCpp))
        #expect(scorer.config.numerics == .llamaCpp)
        var rows = randomRows(count: 4, length: 30, vocab: 50257, seed: 5)
        rows[2] = Array(rows[2].prefix(9))
        let packed = try scorer.score(ScoringRequest(rows: .sequences(rows), topK: 5))
        #expect(packed.forwardPasses == 1)
        for (r, row) in rows.enumerated() {
            let alone = try scorer.score(ScoringRequest(rows: .sequences([row]), topK: 5)).rows[0]
            #expect(alone == packed.rows[r], "row \(r) alone vs packed")
        }
        let reordered = try scorer.score(ScoringRequest(rows: .sequences(rows.reversed()), topK: 5))
        #expect(Array(reordered.rows.reversed()) == packed.rows)
        let transformers = try Scorer(model: model).score(ScoringRequest(rows: .sequences(rows), topK: 5))
        #expect(transformers.rows != packed.rows)
    }

    @Test("Two models compared must compute with the same numerics (one pass runs both on one context)")
    func comparisonNeedsTheSameNumerics() {
        let config = RandomCheckpoint.Preset.tiny.config
        var llamaCpp = config
        llamaCpp.numerics = .llamaCpp
        #expect(throws: ValidationError.self) { try Scorer.checkComparable(config, reference: llamaCpp) }
        #expect(throws: Never.self) { try Scorer.checkComparable(llamaCpp, reference: llamaCpp) }
    }
}
