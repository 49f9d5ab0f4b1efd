import Foundation
import Synchronization

/// The process's thread setting (`--threads`, the server's `threads`): read once when a `Scorer` makes
/// its `ComputeContext` (`ComputeContext.process()`), never inside a pass. Each thread of the context
/// gets its own slice of every product (output columns, see `matmul`) and of every element-wise pass;
/// the kernels themselves are single-threaded, so no library threads spin while the rest of the pass
/// runs. Atomic: a server sets it at load while other scorers (tests run several) may be made.
public enum ComputeThreads {
    private static let value = Atomic<Int>(ProcessInfo.processInfo.activeProcessorCount)

    public static var count: Int { value.load(ordering: .relaxed) }

    public static func set(_ threads: Int) {
        value.store(max(1, threads), ordering: .relaxed)
    }
}

/// Runs body(0), …, body(parts − 1) concurrently and waits for all of them. The caller guarantees
/// that different indices write disjoint memory (the engine's slices of rows, columns or heads); that
/// is why the closure may capture raw pointers, which Swift cannot check as Sendable.
func parallelFor(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 {
        if parts == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let shared = unsafeBitCast(body, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: parts, execute: shared)
    }
}

/// Splits 0..<count into `parts` nearly equal contiguous ranges, each a multiple of `granule` long
/// (except the last).
@inline(__always)
func split(_ count: Int, parts: Int, granule: Int = 1) -> [Range<Int>] {
    let parts = max(1, min(parts, (count + granule - 1) / granule))
    let units = (count + granule - 1) / granule
    var ranges: [Range<Int>] = []
    var start = 0
    for p in 0..<parts {
        let endUnit = units * (p + 1) / parts
        let end = min(count, endUnit * granule)
        if end > start { ranges.append(start..<end) }
        start = end
    }
    return ranges
}
