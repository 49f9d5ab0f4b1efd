import CKernels
import Foundation

/// Where a forward pass computes: the kernel path's table of kernels (products, conversion, every
/// element-wise op; chosen once, `lmk_kernels_for`) and how many threads split the work. Made at an
/// entry point (`Scorer`, `lmscore bench`, a test) and passed down to every kernel call; nothing below
/// reads a process-wide setting.
public struct ComputeContext: @unchecked Sendable {
    public let path: KernelPath
    /// Threads every product (by output columns) and every element-wise pass (by rows) is split over.
    public let threads: Int
    let kernels: UnsafePointer<lmk_kernels>
    /// When set, every weight product's wall time is recorded there (`lmscore bench --product-times`).
    public let productTimes: ProductTimes?

    public init(path: KernelPath, threads: Int, productTimes: ProductTimes? = nil) {
        precondition(path.isSupported, "kernel path \(path.rawValue) is not supported on this CPU")
        guard let kernels = lmk_kernels_for(path.kernelPath) else { preconditionFailure("no \(path.rawValue) kernels in this build") }
        self.path = path
        self.threads = max(1, threads)
        self.kernels = kernels
        self.productTimes = productTimes
    }

    /// The process's choice: `KernelPath.active()` (`LMSCORE_KERNEL` or the best supported path; entry
    /// points call it first, so a bad value is already an error) and `ComputeThreads.count`.
    public static func process() -> ComputeContext {
        do { return ComputeContext(path: try KernelPath.active(), threads: ComputeThreads.count) } catch {
            preconditionFailure("\(error)")
        }
    }

    /// The same kernels on one thread: for work a caller has already split (attention's heads).
    var singleThreaded: ComputeContext { ComputeContext(path: path, threads: 1, kernels: kernels, productTimes: productTimes) }

    private init(path: KernelPath, threads: Int, kernels: UnsafePointer<lmk_kernels>, productTimes: ProductTimes?) {
        self.path = path
        self.threads = threads
        self.kernels = kernels
        self.productTimes = productTimes
    }

    /// The same path and threads with `numerics`' kernels (`lmk_kernels_with_numerics`).
    public func with(numerics: Numerics) -> ComputeContext {
        guard let kernels = lmk_kernels_with_numerics(path.kernelPath, numerics.kernelNumerics) else {
            preconditionFailure("no \(path.rawValue) kernels in this build")
        }
        return ComputeContext(path: path, threads: threads, kernels: kernels, productTimes: productTimes)
    }

    /// The element-wise ops of this path.
    var ops: lmk_elementwise { kernels.pointee.elementwise.pointee }

    /// C[m, n] = alpha · A · op(B) + beta · C on this path, single-threaded (CKernels.h); then, in the
    /// kernel as each element is finished, + bias on every row and act(·) (this context's `activate`).
    func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafeRawPointer, ldb: Int,
              elementType: ElementType, transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
              bias: UnsafePointer<Float>? = nil, activation: Activation? = nil) {
        let gemm = kernels.pointee.gemm!
        guard bias != nil || activation != nil else {
            gemm(m, n, k, a, lda, b, ldb, elementType.kernelType, transposeB ? 1 : 0, c, ldc, alpha, beta, nil)
            return
        }
        var epilogue = lmk_epilogue(bias: bias, activate: activation == nil ? nil : ops.activate,
                                    activation: activation?.kernelActivation ?? LMK_GELU_TANH)
        gemm(m, n, k, a, lda, b, ldb, elementType.kernelType, transposeB ? 1 : 0, c, ldc, alpha, beta, &epilogue)
    }

    /// C[m, n] (+)= A · Wᵀ over Q8_0 blocks: A's rows quantized (`lmk_quantize_q8_0`), W [n, blocks] as
    /// stored (CKernels.h says the order of operations).
    func gemmQ8(m: Int, n: Int, blocks: Int, a: UnsafePointer<lmk_block_q8_0>, w: UnsafePointer<lmk_block_q8_0>,
                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        kernels.pointee.gemm_q8_0(m, n, blocks, a, w, c, ldc, accumulate ? 1 : 0)
    }

    /// `rows` rows of `k` values (row stride `ld`) as Q8_0 blocks, `k / 32` per row, into `out` (CKernels.h:
    /// llama.cpp's activation quantization; every path gives the same bits).
    func quantizeQ8(_ x: UnsafePointer<Float>, rows: Int, k: Int, ld: Int, into out: UnsafeMutablePointer<lmk_block_q8_0>) {
        for i in 0..<rows { kernels.pointee.quantize_q8_0(x + i * ld, k, out + i * (k / Int(LMK_Q8_0_BLOCK))) }
    }

    /// out[0 ..< count] = the FP32 values of `count` elements of `elementType` at `values`.
    func convert(_ values: UnsafeRawPointer, elementType: ElementType, into out: UnsafeMutablePointer<Float>, count: Int) {
        kernels.pointee.convert(values, elementType.kernelType, out, count)
    }

    /// The FMA peak probe (CKernels.h): `steps` × 12 independent FMAs on whole vectors, single-threaded.
    func fmaProbe(steps: Int) -> Float { kernels.pointee.fma_probe(steps) }

    /// Runs body(slice) for `count` items split over the threads in slices of whole `granule`s.
    func forEachSlice(_ count: Int, granule: Int = 1, _ body: (Range<Int>) -> Void) {
        let slices = split(count, parts: threads, granule: granule)
        parallelFor(slices.count) { body(slices[$0]) }
    }
}

extension KernelPath {
    var kernelPath: lmk_path {
        switch self {
        case .avx512: LMK_PATH_AVX512
        case .avx2: LMK_PATH_AVX2
        case .portable: LMK_PATH_PORTABLE
        }
    }
}

extension ElementType {
    var kernelType: lmk_element_type {
        switch self {
        case .f32: LMK_F32
        case .f16: LMK_F16
        case .bf16: LMK_BF16
        case .q8_0: preconditionFailure("Q8_0 weights go through gemmQ8, not the float kernels")
        }
    }
}

extension Activation {
    var kernelActivation: lmk_activation {
        switch self {
        case .geluTanh: LMK_GELU_TANH
        case .geluErf: LMK_GELU_ERF
        case .silu: LMK_SILU
        }
    }
}
