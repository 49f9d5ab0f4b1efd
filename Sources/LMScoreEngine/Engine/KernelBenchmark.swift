import Foundation

/// What `lmscore bench` measures beside whole scoring calls: one product alone on the kernels, and
/// the machine's memory read bandwidth, so a memory-bound shape (1×16 streams every weight once)
/// can be put next to what the memory allows.
public enum KernelBenchmark {
    /// GFLOP/s of the median call of C[m, n] = A[m, k] · B[k, n] (B [K, N] as GPT-2 stores it, or
    /// [N, K] with `transposeB`, stored as `weights`: F32, F16 or BF16, converted from FP32 as a
    /// checkpoint writer stores it), on the context's path and threads, for about `seconds`.
    /// `fromMemory`: each call multiplies the next of enough copies of B to fill 256 MB, so B comes from
    /// memory as a model's weights do in a scoring call (a product repeated on one B finds it in L2 or
    /// L3); otherwise every call uses the same B.
    public static func productGFLOPS(m: Int, k: Int, n: Int, transposeB: Bool = false, weights: TensorDType = .f32,
                                     fromMemory: Bool = false, seconds: Double, compute: ComputeContext) -> Double {
        var random = SplitMix64(seed: 1)
        let a = (0..<m * k).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 }        // [m, k]
        let values = (0..<k * n).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 }   // [k, n] or [n, k]
        var c = [Float](repeating: 0, count: m * n)                                             // [m, n]
        let stored = values.withUnsafeBufferPointer { SafeTensorsWriter.encode($0, as: weights) }
        let bytes = stored.count
        let copies = fromMemory ? (256 << 20) / bytes + 1 : 1
        let b = UnsafeMutableRawPointer.allocate(byteCount: bytes * copies, alignment: 64)   // copies × B as stored
        defer { b.deallocate() }
        for copy in 0..<copies { stored.copyBytes(to: (b + copy * bytes).assumingMemoryBound(to: UInt8.self), count: bytes) }
        var call = 0
        let median = medianSeconds(seconds) {
            product(m: m, n: n, k: k, a: a, lda: k, b: b + (call % copies) * bytes, ldb: transposeB ? k : n, elementType: ElementType(weights),
                    transposeB: transposeB, c: &c, ldc: n, alpha: 1, beta: 0, compute: compute)
            call += 1
        }
        return 2 * Double(m) * Double(n) * Double(k) / median / 1e9
    }

    /// The FP32 peak the products are held against, measured rather than computed from a clock the
    /// VM may not report truly (cores boost above the `cpu MHz` /proc/cpuinfo shows): every thread
    /// runs independent FMA chains on the path's vectors with nothing to load, median of calls over
    /// about `seconds`. GFLOP/s, an FMA counting 2.
    public static func fmaPeakGFLOPS(seconds: Double, compute: ComputeContext) -> Double {
        let steps = 4_000_000, threads = compute.threads
        var results = [Float](repeating: 0, count: threads)
        let median = medianSeconds(seconds) {
            results.withUnsafeMutableBufferPointer { results in
                parallelFor(threads) { t in results[t] = compute.fmaProbe(steps: steps) }
            }
        }
        precondition(results.allSatisfy(\.isFinite))   // the chains ran
        return Double(threads) * Double(steps) * 12 * Double(compute.path.lanes) * 2 / median / 1e9
    }

    /// Bytes per second the threads read from a 256 MB buffer (summing it, split like the products),
    /// median of calls over about `seconds`: the floor for a pass that streams weights once.
    public static func readBandwidth(seconds: Double, threads: Int) -> Double {
        let count = 1 << 26   // floats: 256 MB, far beyond any cache
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        var sums = [Float](repeating: 0, count: threads)
        let median = medianSeconds(seconds) {
            let slices = split(count, parts: threads, granule: 1 << 16)
            sums.withUnsafeMutableBufferPointer { sums in
                parallelFor(slices.count) { s in
                    var lanes = SIMD8<Float>()
                    var i = slices[s].lowerBound
                    while i < slices[s].upperBound {
                        lanes += UnsafeRawPointer(buffer + i).loadUnaligned(as: SIMD8<Float>.self)
                        i += 8
                    }
                    sums[s] = lanes.sum()
                }
            }
        }
        precondition(sums.allSatisfy { $0 > 0 })   // the reads happened
        return Double(count * 4) / median
    }

    /// The median time of `body` in seconds: one warm-up call, then calls until at least three are
    /// timed and `seconds` have passed. `lmscore bench` times its scoring calls with it too.
    public static func medianSeconds(_ seconds: Double, _ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        while times.count < 3 || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }
}
