import CKernels
import Foundation

/// Which of the matrix kernels' CPU paths runs the products (Sources/CKernels): chosen once per
/// process from the CPU's feature bits (cpuid + XCR0), or forced with `LMSCORE_KERNEL`. Every path
/// is batch-invariant on its own; different paths round differently (vector widths, FMA or not).
public enum KernelPath: String, CaseIterable, Sendable {
    /// AVX-512F: 16 lanes, 6 × 32 tiles.
    case avx512
    /// AVX2 + FMA + F16C: 8 lanes, 6 × 16 tiles.
    case avx2
    /// Plain C over 4-lane vectors, multiply and add rounded separately: any CPU.
    case portable

    /// The environment variable that forces a path.
    public static let environmentVariable = "LMSCORE_KERNEL"

    /// The CPU's feature bits as lmk_cpu_features() reports them.
    static let features = Int(lmk_cpu_features())

    /// The feature names the paths depend on that this CPU (and OS) has, e.g. ["avx2", "fma", "f16c"].
    public static var cpuFeatures: [String] {
        [(LMK_CPU_AVX512F, "avx512f"), (LMK_CPU_AVX2, "avx2"), (LMK_CPU_FMA, "fma"), (LMK_CPU_F16C, "f16c")]
            .filter { features & Int($0.0) != 0 }.map(\.1)
    }

    /// Whether this CPU can run the path.
    public var isSupported: Bool {
        #if arch(x86_64)
        let avx2 = Int(LMK_CPU_AVX2 | LMK_CPU_FMA | LMK_CPU_F16C)
        switch self {
        case .avx512: return Self.features & (avx2 | Int(LMK_CPU_AVX512F)) == avx2 | Int(LMK_CPU_AVX512F)
        case .avx2: return Self.features & avx2 == avx2
        case .portable: return true
        }
        #else
        return self == .portable
        #endif
    }

    /// The paths this CPU can run, best first.
    public static var supported: [KernelPath] { allCases.filter(\.isSupported) }

    /// The path `LMSCORE_KERNEL` names (it must be one this CPU supports), else the best supported.
    public static func select(environment: [String: String]) throws(KernelPathError) -> KernelPath {
        guard let name = environment[environmentVariable], !name.isEmpty else { return supported[0] }
        guard let path = KernelPath(rawValue: name.lowercased()) else { throw .unknown(name) }
        guard path.isSupported else { throw .unsupported(path) }
        return path
    }

    private static let selection = Result { () throws(KernelPathError) in
        try select(environment: ProcessInfo.processInfo.environment)
    }

    /// The path this process runs. Entry points (the CLI, the server's model load) call this first, so
    /// a bad `LMSCORE_KERNEL` is one clear error before any product runs.
    public static func active() throws(KernelPathError) -> KernelPath { try selection.get() }

    /// The path the products use; `active()` has vetted it (else this stops with its message).
    static var current: KernelPath {
        switch selection {
        case .success(let path): return path
        case .failure(let error): preconditionFailure("\(error)")
        }
    }

    /// One-line description for logs and `lmscore bench`: "avx2 (cpu: avx2 fma f16c)".
    public var summary: String { "\(rawValue) (cpu: \(Self.cpuFeatures.isEmpty ? "none of avx2/fma/f16c/avx512f" : Self.cpuFeatures.joined(separator: " ")))" }
}

public enum KernelPathError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    case unsupported(KernelPath)

    public var description: String {
        let choices = KernelPath.allCases.map(\.rawValue).joined(separator: ", ")
        let supported = KernelPath.supported.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknown(let name):
            return "\(KernelPath.environmentVariable)=\(name) is not a kernel path (one of: \(choices)); this CPU supports: \(supported)"
        case .unsupported(let path):
            return "\(KernelPath.environmentVariable)=\(path.rawValue): this CPU lacks \(path.rawValue) (it has: \(KernelPath.cpuFeatures.joined(separator: " "))); supported here: \(supported)"
        }
    }
}

extension KernelPath {
    /// C[m, n] = alpha · A · op(B) + beta · C on this path, single-threaded (CKernels.h).
    func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafeRawPointer, ldb: Int,
              elementType: ElementType, transposeB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        let type = elementType.kernelType, transpose: Int32 = transposeB ? 1 : 0
        switch self {
        #if arch(x86_64)
        case .avx512: lmk_gemm_avx512(m, n, k, a, lda, b, ldb, type, transpose, c, ldc, alpha, beta)
        case .avx2: lmk_gemm_avx2(m, n, k, a, lda, b, ldb, type, transpose, c, ldc, alpha, beta)
        #else
        case .avx512, .avx2: preconditionFailure("\(rawValue) exists only on x86-64")
        #endif
        case .portable: lmk_gemm_portable(m, n, k, a, lda, b, ldb, type, transpose, c, ldc, alpha, beta)
        }
    }

    /// FP32 lanes of the path's vectors.
    public var lanes: Int {
        switch self {
        case .avx512: 16
        case .avx2: 8
        case .portable: 4
        }
    }

    /// The FMA peak probe (CKernels.h): `steps` × 12 independent FMAs on whole vectors, single-threaded.
    func fmaProbe(steps: Int) -> Float {
        switch self {
        #if arch(x86_64)
        case .avx512: lmk_fma_probe_avx512(steps)
        case .avx2: lmk_fma_probe_avx2(steps)
        #else
        case .avx512, .avx2: preconditionFailure("\(rawValue) exists only on x86-64")
        #endif
        case .portable: lmk_fma_probe_portable(steps)
        }
    }

    /// out[0 ..< count] = the FP32 values of `count` elements of `elementType` at `values`.
    func convert(_ values: UnsafeRawPointer, elementType: ElementType, into out: UnsafeMutablePointer<Float>, count: Int) {
        let type = elementType.kernelType
        switch self {
        #if arch(x86_64)
        case .avx512: lmk_convert_avx512(values, type, out, count)
        case .avx2: lmk_convert_avx2(values, type, out, count)
        #else
        case .avx512, .avx2: preconditionFailure("\(rawValue) exists only on x86-64")
        #endif
        case .portable: lmk_convert_portable(values, type, out, count)
        }
    }
}

extension ElementType {
    var kernelType: lmk_element_type {
        switch self {
        case .f32: LMK_F32
        case .f16: LMK_F16
        case .bf16: LMK_BF16
        }
    }
}
