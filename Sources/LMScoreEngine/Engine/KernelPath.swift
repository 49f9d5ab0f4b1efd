import CKernels
import Foundation

/// Which of the kernels' CPU paths runs (Sources/CKernels): chosen once per process from the CPU's
/// feature bits (cpuid + XCR0), or forced with `LMSCORE_KERNEL`; a `ComputeContext` carries its table.
/// Every path is batch-invariant on its own; the products of avx512 and avx2 give the same bits
/// (both one FMA chain over k), the portable path's round differently (multiply and add apart); the
/// element-wise ops give the same bits on all three (elementwise_template.h).
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

    /// One-line description for logs and `lmscore bench`: "avx2 (cpu: avx2 fma f16c; GEMM K in blocks of
    /// up to 512, 256 KB panels, for a 512 KB L2)".
    public var summary: String {
        let features = Self.cpuFeatures.isEmpty ? "none of avx2/fma/f16c/avx512f" : Self.cpuFeatures.joined(separator: " ")
        return "\(rawValue) (cpu: \(features); \(Self.blockingSummary))"
    }

    /// The GEMM's cache blocking on this CPU (the kernels choose it per product from the L2 size the CPU
    /// reports and the product's K; it never changes a result's bits): the largest K block and the panel.
    public static var blockingSummary: String {
        let blocking = lmk_gemm_blocking(1 << 20)   // a K long enough to be split into the largest blocks
        let panelKB = blocking.kc * blocking.nc * MemoryLayout<Float>.size / 1024
        return "GEMM K in blocks of up to \(blocking.kc), \(panelKB) KB panels, for a \(blocking.l2_bytes / 1024) KB L2"
    }
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
    /// FP32 lanes of the path's vectors.
    public var lanes: Int {
        switch self {
        case .avx512: 16
        case .avx2: 8
        case .portable: 4
        }
    }
}
