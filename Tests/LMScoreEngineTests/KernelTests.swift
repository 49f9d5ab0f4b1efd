import CKernels
import Foundation
import Testing
@testable import LMScoreEngine

/// The matrix kernels on every path this CPU supports (Sources/CKernels): products against a naive
/// double-precision loop on odd shapes, bitwise invariance (a row alone vs at any position of any M,
/// one vs two threads, one product vs the same K split in two), 16-bit conversion of every bit
/// pattern, and the refusal of a path the CPU lacks.
@Suite("Matrix kernels, per path")
struct KernelTests {
    /// M, N, K from 1 to 1000, none a multiple of the tile sizes (6 rows; 8, 16, 32 columns; 256 k)
    /// except where a full tile is the point; each small enough for a naive loop in a debug test.
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (1, 1000, 3), (1000, 1, 5), (3, 7, 1000), (7, 33, 257), (13, 70, 300),
        (97, 41, 19), (6, 32, 256), (5, 17, 513), (250, 9, 2), (2, 300, 64), (31, 129, 40),
    ]

    static let paths = KernelPath.supported

    @Test(arguments: paths)
    func productsMatchANaiveLoop(path: KernelPath) {
        var random = SplitMix64(seed: 11)
        for shape in Self.shapes {
            for transposeB in [false, true] {
                for type in [ElementType.f32, .f16, .bf16] {
                    for accumulate in [false, true] {
                        check(path, shape, transposeB: transposeB, type: type, accumulate: accumulate, random: &random)
                    }
                }
            }
        }
    }

    /// One product on strided views (lda, ldb, ldc wider than the matrices) against Σ in Double of
    /// the same inputs (B's values after rounding to its element type). Tolerance: K·2⁻²³ of Σ|a·b|.
    private func check(_ path: KernelPath, _ shape: (m: Int, n: Int, k: Int), transposeB: Bool, type: ElementType,
                       accumulate: Bool, random: inout SplitMix64) {
        let (m, n, k) = shape
        let lda = k + 3, ldc = n + 5
        let bRows = transposeB ? n : k, bColumns = transposeB ? k : n, ldb = bColumns + 2
        let a = (0..<m * lda).map { _ in Float(random.uniform() * 2 - 1) }
        let bValues = (0..<bRows * ldb).map { _ in Float(random.uniform() * 2 - 1) }
        let b = StoredMatrix(bValues, as: type)
        let alpha: Float = accumulate ? 1 : 0.375
        let start = (0..<m * ldc).map { _ in Float(random.uniform() * 2 - 1) }
        var c = start
        b.withBase { base in
            c.withUnsafeMutableBufferPointer { c in
                product(m: m, n: n, k: k, a: a, lda: lda, b: base, ldb: ldb, elementType: type, transposeB: transposeB,
                        c: c.baseAddress!, ldc: ldc, alpha: alpha, beta: accumulate ? 1 : 0, compute: ComputeContext(path: path, threads: 1))
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let product = Double(a[i * lda + p]) * Double(b.values[transposeB ? j * ldb + p : p * ldb + j])
                    sum += product
                    magnitude += abs(product)
                }
                let expected = accumulate ? Double(start[i * ldc + j]) + sum : Double(alpha) * sum
                let bound = (magnitude + (accumulate ? abs(Double(start[i * ldc + j])) : 0)) * Double(k + 2) * 0x1p-23 + 1e-30
                worst = max(worst, abs(Double(c[i * ldc + j]) - expected) / bound)
            }
        }
        #expect(worst <= 1, "\(path) \(m)×\(n)×\(k) transposeB \(transposeB) \(type) accumulate \(accumulate): error \(worst) of the bound")
        // Columns outside the product (the ldc margin) are untouched.
        for i in 0..<m {
            for j in n..<ldc { #expect(c[i * ldc + j] == start[i * ldc + j]) }
        }
    }

    /// A bias added in registers and an activation applied as C is stored (the product's last operations
    /// on each element) give exactly the bits of the product followed by passes adding the bias
    /// (`add_rows`) and activating (`activate`): in place, packed and transposed (up to 32 rows against
    /// [N, K]), F32 and F16, fresh and accumulating, alpha ≠ 1, K = 0, one and two threads, each
    /// activation, with transformers' and llama.cpp's numerics (its GELU table).
    @Test(arguments: paths)
    func biasAndActivationInTheProductAreTheBitsOfPassesAfter(path: KernelPath) {
        var random = SplitMix64(seed: 15)
        let shapes = [(1, 70, 300), (7, 33, 257), (24, 100, 64), (31, 129, 40), (40, 600, 300), (5, 17, 0)]
        let finishes: [(bias: Bool, activation: Activation?)] = [(true, nil), (true, .geluTanh), (false, .geluErf), (true, .silu)]
        for (m, n, k) in shapes {
            for transposeB in [false, true] {
                for type in [ElementType.f32, .f16] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.125, 0), (1, 1)] {
                        for threads in [1, 2] {
                            for numerics in [Numerics.transformers, .llamaCpp] {
                                let finish = finishes[Int(random.next() % UInt64(finishes.count))]
                                let compute = ComputeContext(path: path, threads: threads).with(numerics: numerics)
                                let a = (0..<m * k).map { _ in Float(random.uniform() * 6 - 3) }
                                let b = StoredMatrix((0..<max(n * k, 1)).map { _ in Float(random.uniform() * 2 - 1) }, as: type)
                                let bias = (0..<n).map { _ in Float(random.uniform() * 2 - 1) }
                                let start = (0..<m * n).map { _ in Float(random.uniform() * 2 - 1) }
                                var fused = start, after = start
                                b.withBase { base in
                                    product(m: m, n: n, k: k, a: a, lda: max(k, 1), b: base, ldb: transposeB ? max(k, 1) : n, elementType: type,
                                            transposeB: transposeB, c: &fused, ldc: n, alpha: alpha, beta: beta,
                                            bias: finish.bias ? bias : nil, activation: finish.activation, compute: compute)
                                    product(m: m, n: n, k: k, a: a, lda: max(k, 1), b: base, ldb: transposeB ? max(k, 1) : n, elementType: type,
                                            transposeB: transposeB, c: &after, ldc: n, alpha: alpha, beta: beta, compute: compute)
                                }
                                if finish.bias { compute.ops.add_rows(&after, m, n, n, bias) }
                                if let activation = finish.activation { compute.ops.activate(&after, m * n, activation.kernelActivation) }
                                #expect(fused.map(\.bitPattern) == after.map(\.bitPattern),
                                        "\(path) \(m)×\(n)×\(k) transposeB \(transposeB) \(type) alpha \(alpha) beta \(beta) threads \(threads) \(finish) \(numerics)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Weight parts side by side (q | k | v, gate | up) multiplied in one go, their columns split over
    /// the threads together, give the bits of multiplying them one by one: both layouts, F32 and F16,
    /// biases, an activation, accumulating, parts of widths that are not whole strips.
    @Test(arguments: paths)
    func partsTogetherAreTheBitsOfPartsOneByOne(path: KernelPath) {
        var random = SplitMix64(seed: 16)
        let m = 64, k = 256, widths = [96, 40, 70], width = widths.reduce(0, +)
        #expect(m * width * k >= singleThreadedProductLimit, "large enough to split over the threads")
        for transposeB in [false, true] {
            for type in [ElementType.f32, .f16] {
                for (beta, activation) in [(Float(0), Activation?.none), (0, .geluTanh), (1, nil)] {
                    // Each part's weight and bias in memory of its own, as a checkpoint's tensors are.
                    let parts = widths.map { n in
                        let stored = StoredMatrix((0..<n * k).map { _ in Float(random.uniform() * 2 - 1) }, as: type)
                        let bytes = n * k * type.byteCount
                        let weight = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                        stored.withBase { weight.copyMemory(from: $0, byteCount: bytes) }
                        let bias = UnsafeMutablePointer<Float>.allocate(capacity: n)
                        for j in 0..<n { bias[j] = Float(random.uniform() * 2 - 1) }
                        return Linear(weight: WeightMatrix(base: weight, elementType: type, rows: transposeB ? n : k, columns: transposeB ? k : n),
                                      bias: bias, storedOutIn: transposeB)
                    }
                    defer {
                        for part in parts {
                            part.weight.base.deallocate()
                            part.bias?.deallocate()
                        }
                    }
                    let a = (0..<m * k).map { _ in Float(random.uniform() * 2 - 1) }
                    let start = (0..<m * width).map { _ in Float(random.uniform() * 2 - 1) }
                    var together = start, oneByOne = start
                    matmul(parts: parts, m: m, a: a, lda: k, c: &together, ldc: width, beta: beta, activation: activation,
                           compute: ComputeContext(path: path, threads: 2))
                    var column = 0
                    for (i, part) in parts.enumerated() {
                        oneByOne.withUnsafeMutableBufferPointer { c in
                            matmul(m: m, n: widths[i], k: k, a: a, lda: k, b: part.weight, transposeB: transposeB, c: c.baseAddress! + column,
                                   ldc: width, beta: beta, bias: part.bias, activation: activation, compute: ComputeContext(path: path, threads: 1))
                        }
                        column += widths[i]
                    }
                    #expect(together.map(\.bitPattern) == oneByOne.map(\.bitPattern),
                            "\(path) \(type) transposeB \(transposeB) beta \(beta) \(String(describing: activation))")
                }
            }
        }
    }

    @Test(arguments: paths)
    func aRowIsTheSameBitsAloneOrAnywhereInAnyBatch(path: KernelPath) {
        var random = SplitMix64(seed: 12)
        let k = 600, n = 150
        #expect(64 * n * k >= singleThreadedProductLimit, "the larger batches below must split over two threads")
        #expect(400 * n * k >= piecewiseProductLimit, "the largest must split into more pieces than threads")
        for transposeB in [false, true] {
            for type in [ElementType.f32, .f16, .bf16] {
                let b = StoredMatrix((0..<n * k).map { _ in Float(random.uniform() * 2 - 1) }, as: type)
                let ldb = transposeB ? k : n
                let row = (0..<k).map { _ in Float(random.uniform() * 2 - 1) }
                let alone = run(path, rows: [row], b: b, ldb: ldb, n: n, k: k, transposeB: transposeB, threads: 1)[0]
                // Up to 24 rows multiply a [K, N] B in place, more go through the packing panel: the
                // row alone (in place) must equal the row in a batch of either kind.
                for m in [2, 5, 6, 7, 13, 24, 25, 64, 97, 400] {
                    for position in Set([0, 1, m / 2, m - 1]) {
                        var rows = (0..<m).map { _ in (0..<k).map { _ in Float(random.uniform() * 2 - 1) } }
                        rows[position] = row
                        for threads in [1, 2] {
                            let packed = run(path, rows: rows, b: b, ldb: ldb, n: n, k: k, transposeB: transposeB, threads: threads)
                            #expect(packed[position] == alone, "\(path) \(type) transposeB \(transposeB): row \(position) of \(m), \(threads) threads")
                        }
                    }
                }
            }
        }
    }

    /// The blocking follows the L2 size the CPU reports and the product's K: K in as few equal blocks
    /// as a panel of half of L2 with at least 128 columns allows (at most 1,024 per block), the panel's
    /// columns from what is left, rows per pass from 3/16 of L2 — multiples of 32 columns and 6 rows.
    @Test func theBlockingFollowsTheL2SizeAndK() {
        let cases: [(l2: Int, k: Int, kc: Int, nc: Int, mc: Int)] = [
            (1 << 20, 768, 768, 160, 60),     // Zen 4, GPT-2's layers: K in one block
            (1 << 20, 3072, 1024, 128, 48),   // GPT-2's MLP down: three blocks
            (1 << 20, 576, 576, 224, 84),     // SmolLM2's layers
            (1 << 20, 64, 64, 2048, 768),     // attention over one head
            (512 << 10, 768, 384, 160, 60),   // Zen 2: two blocks
            (512 << 10, 3072, 512, 128, 48),
            (512 << 10, 1000, 500, 128, 48),  // equal blocks, not 512 + 488
            (2 << 20, 3072, 1024, 256, 96),   // a 2 MB L2: the panel of half of it, K blocks at most 1,024
            (48 << 20, 768, 768, 320, 3072),  // the panel's most (1 MB), rows per pass from the L2
            (128 << 10, 768, 128, 128, 48),   // a small L2: K in six blocks of 128
            (16 << 10, 768, 16, 128, 48),     // the smallest K block: 16
            (1 << 20, 1, 1, 131_072, 49152),
            (1 << 20, 0, 1, 131_072, 49152),     // K = 0 still has a block (the product writes zeros)
        ]
        for c in cases {
            let blocking = lmk_gemm_blocking_for(c.l2, c.k)
            #expect((blocking.l2_bytes, blocking.kc, blocking.nc, blocking.mc) == (c.l2, c.kc, c.nc, c.mc), "L2 \(c.l2 >> 10) KB, K \(c.k)")
        }
        #expect(lmk_l2_cache_bytes() > 0)
    }

    /// The blocking chosen for one CPU must give the bits of any other's: products spanning several
    /// panels and passes, K in two blocks of 300 (a 512 KB L2) or one of 600 (1 MB) or ten of 60
    /// (64 KB). (Other tests' products may run under the override meanwhile: by the same
    /// contract, that changes none of their bits.)
    @Test(arguments: paths)
    func theBlockingChangesNoBit(path: KernelPath) {
        var random = SplitMix64(seed: 14)
        let m = 400, n = 1100, k = 600
        let a = (0..<m * k).map { _ in Float(random.uniform() * 2 - 1) }
        defer { lmk_gemm_blocking_override(0) }
        for transposeB in [false, true] {
            for type in [ElementType.f32, .f16] {
                let b = StoredMatrix((0..<n * k).map { _ in Float(random.uniform() * 2 - 1) }, as: type)
                let results = [512 << 10, 1 << 20, 64 << 10].map { l2 in
                    lmk_gemm_blocking_override(l2)
                    var c = [Float](repeating: .nan, count: m * n)
                    b.withBase { base in
                        product(m: m, n: n, k: k, a: a, lda: k, b: base, ldb: transposeB ? k : n, elementType: type, transposeB: transposeB,
                                c: &c, ldc: n, alpha: 1, beta: 0, compute: ComputeContext(path: path, threads: 1))
                    }
                    return c
                }
                #expect(results[0] == results[1] && results[0] == results[2], "\(path) \(type) transposeB \(transposeB)")
            }
        }
    }

    /// Products of [A1 | A2] · [B1; B2] (one product over K) and A1·B1 then += A2·B2 (two, the second
    /// accumulating) give the same bits: attention over a shared prefix relies on it.
    @Test(arguments: paths)
    func accumulatingContinuesTheSum(path: KernelPath) {
        for m in [9, 40] {   // B in place, and B packed
            checkAccumulating(path: path, m: m)
        }
    }

    private func checkAccumulating(path: KernelPath, m: Int) {
        var random = SplitMix64(seed: 13)
        let n = 40, k1 = 300, k2 = 77, k = k1 + k2
        let a = (0..<m * k).map { _ in Float(random.uniform() * 2 - 1) }
        let b = (0..<k * n).map { _ in Float(random.uniform() * 2 - 1) }
        var whole = [Float](repeating: 0, count: m * n), split = whole
        product(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, elementType: .f32, transposeB: false,
                c: &whole, ldc: n, alpha: 1, beta: 0, compute: ComputeContext(path: path, threads: 1))
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                product(m: m, n: n, k: k1, a: a.baseAddress!, lda: k, b: UnsafeRawPointer(b.baseAddress!), ldb: n,
                        elementType: .f32, transposeB: false, c: &split, ldc: n, alpha: 1, beta: 0, compute: ComputeContext(path: path, threads: 1))
                product(m: m, n: n, k: k2, a: a.baseAddress! + k1, lda: k, b: UnsafeRawPointer(b.baseAddress! + k1 * n), ldb: n,
                        elementType: .f32, transposeB: false, c: &split, ldc: n, alpha: 1, beta: 1, compute: ComputeContext(path: path, threads: 1))
            }
        }
        #expect(whole == split, "\(path) m \(m)")
    }

    private func run(_ path: KernelPath, rows: [[Float]], b: StoredMatrix, ldb: Int, n: Int, k: Int, transposeB: Bool,
                     threads: Int) -> [[Float]] {
        let a = rows.flatMap { $0 }
        var c = [Float](repeating: .nan, count: rows.count * n)
        b.withBase { base in
            c.withUnsafeMutableBufferPointer { c in
                // Two threads split the columns from M·N·K ≥ singleThreadedProductLimit (here from m = 24 rows).
                product(m: rows.count, n: n, k: k, a: a, lda: k, b: base, ldb: ldb, elementType: b.type, transposeB: transposeB,
                        c: c.baseAddress!, ldc: n, alpha: 1, beta: 0, compute: ComputeContext(path: path, threads: threads))
            }
        }
        return (0..<rows.count).map { Array(c[$0 * n..<($0 + 1) * n]) }
    }

    @Test(arguments: paths)
    func everyF16AndBF16BitPatternConverts(path: KernelPath) {
        let patterns = (0...UInt16.max).map { $0 }
        var out = [Float](repeating: 0, count: patterns.count)
        for type in [ElementType.f16, .bf16] {
            patterns.withUnsafeBytes { bytes in
                ComputeContext(path: path, threads: 1).convert(bytes.baseAddress!, elementType: type, into: &out, count: patterns.count)
            }
            var mismatches = 0
            for (bits, value) in zip(patterns, out) {
                let expected = type == .f16 ? Float(Float16(bitPattern: bits)) : Float(bitPattern: UInt32(bits) << 16)
                let same = expected.isNaN
                    ? value.isNaN && value.sign == expected.sign && (type == .f16 || value.bitPattern == expected.bitPattern)
                    : value.bitPattern == expected.bitPattern
                if !same { mismatches += 1 }
            }
            #expect(mismatches == 0, "\(path) \(type): \(mismatches) bit patterns convert wrongly")
        }
        // The edges by name: the smallest subnormal, the largest subnormal, ±inf, a NaN.
        let edges: [UInt16] = [0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e01, 0x8000]
        var converted = [Float](repeating: 0, count: edges.count)
        edges.withUnsafeBytes { ComputeContext(path: path, threads: 1).convert($0.baseAddress!, elementType: .f16, into: &converted, count: edges.count) }
        #expect(converted[0] == 0x1p-24 && converted[1] == 0x1.ff8p-15)
        #expect(converted[2] == .infinity && converted[3] == -.infinity && converted[4].isNaN)
        #expect(converted[5] == 0 && converted[5].sign == .minus)
    }

    /// The probe `lmscore bench` divides by does the work it is credited with: 12 chains of `steps`
    /// FMAs (the portable path: multiply, then add) on every lane, the value a scalar loop computes.
    @Test(arguments: paths)
    func theFMAPeakProbeRunsEveryStep(path: KernelPath) {
        let steps = 1000
        var expected: Float = 0
        for chain in 0..<12 {
            var x = Float(0.001) * Float(chain)
            for _ in 0..<steps { x = path == .portable ? x * 0.999 + 0.001 : Float(0.001).addingProduct(x, 0.999) }
            for _ in 0..<path.lanes { expected += x }
        }
        #expect(ComputeContext(path: path, threads: 1).fmaProbe(steps: steps).bitPattern == expected.bitPattern)
        #expect(ComputeContext(path: path, threads: 1).fmaProbe(steps: steps + 1) != expected)
    }

    /// The promise that lets a replica move between CPUs: the AVX-512 path computes the AVX2 path's FMA
    /// chains, so both give the same bits — run natively here on a CPU that has both (elsewhere
    /// `Scripts/check_avx512_emulated.sh` runs the AVX-512 code through SIMDe). Odd shapes, the in-place
    /// path (M ≤ 24) and the packing-panel path (M > 24), both B layouts, every element type,
    /// accumulate or not, one and two threads.
    @Test(.enabled(if: KernelPath.avx512.isSupported && KernelPath.avx2.isSupported, "needs a CPU with AVX-512 and AVX2"))
    func avx512AndAVX2GiveTheSameBits() {
        var random = SplitMix64(seed: 512)
        let shapes = Self.shapes + [(24, 200, 700), (25, 300, 513), (100, 77, 1030), (64, 512, 768)]
        var compared = 0, differing = 0
        for (m, n, k) in shapes {
            for transposeB in [false, true] {
                for type in [ElementType.f32, .f16, .bf16] {
                    let ldb = transposeB ? k : n
                    let a = (0..<m * k).map { _ in Float(random.uniform() * 2 - 1) }
                    let b = StoredMatrix((0..<(transposeB ? n : k) * ldb).map { _ in Float(random.uniform() * 2 - 1) }, as: type)
                    let start = (0..<m * n).map { _ in Float(random.uniform() * 2 - 1) }
                    for accumulate in [false, true] {
                        for threads in [1, 2] {
                            let outputs = [KernelPath.avx512, .avx2].map { path -> [Float] in
                                var c = start
                                b.withBase { base in
                                    c.withUnsafeMutableBufferPointer { c in
                                        product(m: m, n: n, k: k, a: a, lda: k, b: base, ldb: ldb, elementType: type, transposeB: transposeB,
                                                c: c.baseAddress!, ldc: n, alpha: accumulate ? 1 : 0.375, beta: accumulate ? 1 : 0,
                                                compute: ComputeContext(path: path, threads: threads))
                                    }
                                }
                                return c
                            }
                            compared += 1
                            if outputs[0].map(\.bitPattern) != outputs[1].map(\.bitPattern) {
                                differing += 1
                                Issue.record("\(m)×\(n)×\(k) transposeB \(transposeB) \(type) accumulate \(accumulate) threads \(threads): avx512 ≠ avx2")
                            }
                        }
                    }
                }
            }
        }
        #expect(compared == shapes.count * 24 && differing == 0)
    }

    @Test func aPathTheCPULacksIsRefusedByName() throws {
        #expect(throws: KernelPathError.unknown("sse9")) { try KernelPath.select(environment: ["LMSCORE_KERNEL": "sse9"]) }
        #expect(try KernelPath.select(environment: [:]) == KernelPath.supported[0])
        #expect(try KernelPath.select(environment: ["LMSCORE_KERNEL": "PORTABLE"]) == .portable)
        for path in KernelPath.allCases where !path.isSupported {
            #expect(throws: KernelPathError.unsupported(path)) { try KernelPath.select(environment: ["LMSCORE_KERNEL": path.rawValue]) }
            #expect("\(KernelPathError.unsupported(path))".contains("this CPU lacks \(path.rawValue)"))
        }
    }
}

/// A matrix stored as the kernels would find it in a checkpoint: FP32, or 16-bit (rounded to
/// nearest), with `values` the FP32 value of each stored element.
private struct StoredMatrix {
    let type: ElementType
    let values: [Float]
    private let storage: [UInt8]

    init(_ source: [Float], as type: ElementType) {
        self.type = type
        switch type {
        case .f32:
            values = source
            storage = source.withUnsafeBytes { Array($0) }
        case .f16:
            let halves = source.map { Float16($0) }
            values = halves.map { Float($0) }
            storage = halves.map(\.bitPattern).withUnsafeBytes { Array($0) }
        case .bf16:
            let halves = source.map { UInt16(truncatingIfNeeded: ($0.bitPattern + 0x7fff + (($0.bitPattern >> 16) & 1)) >> 16) }
            values = halves.map { Float(bitPattern: UInt32($0) << 16) }
            storage = halves.withUnsafeBytes { Array($0) }
        case .q8_0:
            preconditionFailure("the float kernels' tests store F32, F16 and BF16 (Q8KernelTests has Q8_0)")
        }
    }

    func withBase<R>(_ body: (UnsafeRawPointer) -> R) -> R { storage.withUnsafeBytes { body($0.baseAddress!) } }
}

extension SplitMix64 {
    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
}
