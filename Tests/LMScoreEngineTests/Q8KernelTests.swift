import CKernels
import Foundation
import Testing
@testable import LMScoreEngine

/// The Q8_0 kernels (Sources/CKernels/q8_0.c): llama.cpp's quantization to the bit, and the W8A8
/// product as CKernels.h defines it — exact int32 block sums, one FMA chain over the blocks in order —
/// checked bit for bit against that definition written here in Swift, on every path the CPU has (so
/// the paths agree with each other), alone or packed, on one thread or two.
@Suite("Q8_0 kernels")
struct Q8KernelTests {
    static let block = Int(LMK_Q8_0_BLOCK)

    /// llama.cpp's x86 quantize_row_q8_0, written out: d = max|x|/127 rounded to FP16, q = x · (127/max)
    /// rounded to nearest even.
    static func quantize(_ x: [Float]) -> [lmk_block_q8_0] {
        stride(from: 0, to: x.count, by: block).map { start in
            let values = x[start..<start + block]
            var out = lmk_block_q8_0()
            guard values.allSatisfy(\.isFinite) else {   // NaN or ±inf: scale NaN, values 0
                out.d = 0x7e00
                return out
            }
            let amax = values.map(abs).max()!
            let id: Float = amax != 0 ? 127 / amax : 0
            out.d = Float16(amax / 127).bitPattern
            withUnsafeMutableBytes(of: &out.qs) { qs in
                for (t, v) in values.enumerated() { qs[t] = UInt8(bitPattern: Int8((v * id).rounded(.toNearestOrEven))) }
            }
            return out
        }
    }

    static func quants(_ block: lmk_block_q8_0) -> [Int32] {
        withUnsafeBytes(of: block.qs) { $0.map { Int32(Int8(bitPattern: $0)) } }
    }

    /// The product as CKernels.h defines it.
    static func reference(a: [lmk_block_q8_0], w: [lmk_block_q8_0], m: Int, n: Int, blocks: Int, start: [Float]?) -> [Float] {
        var c = start ?? [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var acc = c[i * n + j]
                for b in 0..<blocks {
                    let x = a[i * blocks + b], y = w[j * blocks + b]
                    let sum = zip(quants(x), quants(y)).reduce(Int32(0)) { $0 + $1.0 * $1.1 }
                    let d = Float(Float16(bitPattern: x.d)) * Float(Float16(bitPattern: y.d))
                    acc = acc.addingProduct(d, Float(sum))   // one rounding: an FMA
                }
                c[i * n + j] = acc
            }
        }
        return c
    }

    @Test("Quantization is llama.cpp's: scales rounded to FP16, values × 127/max rounded to nearest even, zero blocks zero")
    func quantization() {
        var random = SplitMix64(seed: 8)
        var x = (0..<9 * Self.block).map { _ in Float(random.uniform() * 4 - 2) }
        for t in 32..<64 { x[t] = 0 }                                   // an all-zero block
        for t in 64..<96 { x[t] = Float(t - 64) - 15.5 }                 // halves: ties
        for t in 96..<128 { x[t] = t == 100 ? 1e-6 : 0 }                 // a tiny scale (FP16 subnormal)
        for t in 160..<192 { x[t] = Float(t - 160) * 0.25 }               // q = 127·x/7.75: more ties
        x[200] = .nan                                                    // blocks holding NaN, +inf, −inf
        x[232] = .infinity
        x[255] = -.infinity
        for t in 256..<288 { x[t] = -Float(t - 256) - 0.5 }              // negative ties
        x.append(contentsOf: (0..<32 * 64).map { _ in Float(random.uniform() * 200 - 100) * (random.uniform() < 0.1 ? 1e-30 : 1) })
        let blocks = x.count / Self.block
        let expected = Self.quantize(x)
        for path in KernelPath.supported {
            var out = [lmk_block_q8_0](repeating: lmk_block_q8_0(), count: blocks)
            ComputeContext(path: path, threads: 1).quantizeQ8(x, rows: 1, k: x.count, ld: x.count, into: &out)
            for b in 0..<blocks {
                #expect(out[b].d == expected[b].d && Self.quants(out[b]) == Self.quants(expected[b]), "\(path) block \(b)")
            }
            #expect(out[1].d == 0 && Self.quants(out[1]).allSatisfy { $0 == 0 })
            #expect([6, 7].allSatisfy { out[$0].d == 0x7e00 && Self.quants(out[$0]).allSatisfy { $0 == 0 } }, "\(path): non-finite blocks")
        }
        // Every FP16 rounding of a scale agrees with Swift's Float16 (round to nearest even) on awkward values.
        for value: Float in [0, 1e-9, 6.1e-5, 6.5504e4, 7e4, 1.0009765, 1.00048828125, 3.1 / 127, -2.5e-7] {
            #expect(lmk_f32_to_f16(value) == Float16(value).bitPattern, "\(value)")
        }
    }

    @Test("The product: the definition's bits on every path, odd shapes, accumulating, and a row alone == the same row packed")
    func productsAreTheDefinition() {
        var random = SplitMix64(seed: 80)
        let shapes = [(1, 1, 1), (1, 9, 3), (3, 8, 2), (5, 17, 4), (16, 33, 24), (40, 70, 6), (13, 100, 30), (7, 64, 1)]
        for (m, n, blocks) in shapes {
            let k = blocks * Self.block
            let a = Self.quantize((0..<m * k).map { _ in Float(random.uniform() * 2 - 1) })
            let w = Self.quantize((0..<n * k).map { _ in Float(random.uniform() * 0.2 - 0.1) })
            let start = (0..<m * n).map { _ in Float(random.uniform()) }
            for accumulate in [false, true] {
                let expected = Self.reference(a: a, w: w, m: m, n: n, blocks: blocks, start: accumulate ? start : nil)
                for path in KernelPath.supported {
                    var c = accumulate ? start : [Float](repeating: .nan, count: m * n)
                    ComputeContext(path: path, threads: 1).gemmQ8(m: m, n: n, blocks: blocks, a: a, w: w, c: &c, ldc: n, accumulate: accumulate)
                    #expect(c.map(\.bitPattern) == expected.map(\.bitPattern), "\(path) \(m)×\(n)×\(blocks) blocks accumulate \(accumulate)")
                }
            }
        }
    }

    @Test("Weights holding −128 are found (the loader refuses them: the AVX2 sign trick cannot multiply them)")
    func minusOneTwentyEight() {
        var blocks = Self.quantize((0..<4 * Self.block).map { Float($0 % 17) - 8 })
        #expect(lmk_q8_0_find_minus_128(blocks, blocks.count) == 0)
        withUnsafeMutableBytes(of: &blocks[3].qs) { $0[31] = 0x80 }
        #expect(lmk_q8_0_find_minus_128(blocks, blocks.count) == 1)
        #expect(lmk_q8_0_find_minus_128(blocks, 3) == 0)
    }

    @Test("Q8_0 parts side by side in one go (input quantized once, columns split together) == part by part, with biases and an activation")
    func partsTogether() {
        var random = SplitMix64(seed: 801)
        let m = 40, k = 8 * Self.block, widths = [96, 40, 72], width = widths.reduce(0, +)
        #expect(m * width * k >= singleThreadedProductLimit, "large enough to split over the threads")
        let blocks = widths.map { n in Self.quantize((0..<n * k).map { _ in Float(random.uniform() * 0.2 - 0.1) }) }
        let biases = widths.map { n in (0..<n).map { _ in Float(random.uniform() * 2 - 1) } }
        let a = (0..<m * k).map { _ in Float(random.uniform() * 6 - 3) }
        for path in KernelPath.supported {
            for (accumulate, activation) in [(false, Activation?.none), (false, .geluTanh), (true, nil)] {
                let start = (0..<m * width).map { _ in Float(random.uniform() * 2 - 1) }
                var together = start, oneByOne = start
                blocks.withUnsafeBufferPointers { weights in
                    biases.withUnsafeBufferPointers { biases in
                        let parts = widths.indices.map { i in
                            Linear(weight: WeightMatrix(base: UnsafeRawPointer(weights[i].baseAddress!), elementType: .q8_0, rows: widths[i], columns: k),
                                   bias: biases[i].baseAddress, storedOutIn: true)
                        }
                        matmul(parts: parts, m: m, a: a, lda: k, c: &together, ldc: width, beta: accumulate ? 1 : 0, activation: activation,
                               compute: ComputeContext(path: path, threads: 2))
                        var column = 0
                        for (i, part) in parts.enumerated() {
                            oneByOne.withUnsafeMutableBufferPointer { c in
                                matmul(m: m, n: widths[i], k: k, a: a, lda: k, b: part.weight, transposeB: true, c: c.baseAddress! + column, ldc: width,
                                       beta: accumulate ? 1 : 0, bias: part.bias, activation: activation, compute: ComputeContext(path: path, threads: 1))
                            }
                            column += widths[i]
                        }
                    }
                }
                #expect(together.map(\.bitPattern) == oneByOne.map(\.bitPattern), "\(path) accumulate \(accumulate) \(String(describing: activation))")
            }
        }
    }

    @Test("Through matmul (activations quantized per row): a row's bits alone == in any batch, on 1 or 2 threads")
    func matmulRowInvariance() throws {
        var random = SplitMix64(seed: 800)
        let n = 480, k = 4 * Self.block, m = 37   // M·N·K past singleThreadedProductLimit: 2 threads split it
        let weights = Self.quantize((0..<n * k).map { _ in Float(random.uniform() * 0.2 - 0.1) })
        let a = (0..<m * k).map { _ in Float(random.uniform() * 6 - 3) }
        try weights.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, elementType: .q8_0, rows: n, columns: k)
            for path in KernelPath.supported {
                func run(_ rows: Range<Int>, threads: Int) -> [Float] {
                    var c = [Float](repeating: 0, count: rows.count * n)
                    a.withUnsafeBufferPointer { a in
                        matmul(m: rows.count, n: n, k: k, a: a.baseAddress! + rows.lowerBound * k, lda: k, b: w, transposeB: true,
                               c: &c, ldc: n, compute: ComputeContext(path: path, threads: threads))
                    }
                    return c
                }
                #expect(m * n * k >= singleThreadedProductLimit)
                let packed = run(0..<m, threads: 2)
                for row in [0, 17, 36] {
                    #expect(run(row..<row + 1, threads: 1) == Array(packed[row * n..<(row + 1) * n]), "\(path) row \(row)")
                }
                #expect(run(0..<m, threads: 1) == packed, "\(path): 1 thread ≠ 2 threads")
                // And the product is close to the float product of the dequantized weights (quantizing the
                // activations costs a little): a sanity bound, the exact order is checked above.
                var dequantized = [Float](repeating: 0, count: n * k)
                for j in 0..<n { w.copyRow(j, into: &dequantized[j * k], compute: ComputeContext(path: path, threads: 1)) }
                for i in [0, 36] {
                    for j in 0..<n {
                        let exact = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(dequantized[j * k + $1]) }
                        #expect(abs(Double(packed[i * n + j]) - exact) < 0.05, "\(path) (\(i), \(j)): \(packed[i * n + j]) vs \(exact)")
                    }
                }
            }
            _ = try #require(KernelPath.supported.first)
        }
    }
}

extension Array {
    /// body(pointers to each element's storage), all valid for the call (nested withUnsafeBufferPointer).
    func withUnsafeBufferPointers<Element2, R>(_ body: ([UnsafeBufferPointer<Element2>]) -> R) -> R where Element == [Element2] {
        func nest(_ i: Int, _ pointers: [UnsafeBufferPointer<Element2>]) -> R {
            i == count ? body(pointers) : self[i].withUnsafeBufferPointer { nest(i + 1, pointers + [$0]) }
        }
        return nest(0, [])
    }
}
