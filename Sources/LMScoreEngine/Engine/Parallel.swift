import Foundation
import Synchronization

/// The process's thread setting (`--threads`, the server's `threads`): read once when a `Scorer` makes
/// its `ComputeContext` (`ComputeContext.process()`) and once when the compute pool starts (its worker
/// count, `ComputePool.shared`), never inside a pass. Each thread of the context gets its own slices of
/// every product (output columns, see `matmul`) and of every element-wise pass; the kernels themselves
/// are single-threaded, and the threads are the caller's and the pool's. Atomic: a server sets it at
/// load while other scorers (tests run several) may be made.
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
    parallelFor(parts, threads: parts) { _, part in body(part) }
}

/// Runs body(worker, item) for item = 0 ..< items on at most `threads` threads: each thread takes the
/// next item when it comes free (one shared counter), so work split in more items than threads ends
/// together even when the machine slows one thread down (another tenant on the host, an interrupt,
/// a thread woken late) — with fixed shares the others would wait for it: 2.6–15.7 % of the CPU time
/// idle in GPT-2 8×128 calls on a shared 2-vCPU VM, 3.6–3.9 % so. `worker` (0 ..< threads) is the thread's own
/// index, for per-thread scratch. Which thread runs an item never changes its result. The threads are
/// the caller's and the `ComputePool`'s, or Dispatch's when the pool is busy with another caller's
/// region or has too few workers.
func parallelFor(_ items: Int, threads: Int, _ body: (_ worker: Int, _ item: Int) -> Void) {
    let threads = min(threads, items)
    if threads <= 1 {
        for item in 0..<items { body(0, item) }
        return
    }
    if ComputePool.shared.run(items: items, threads: threads, body) { return }
    let next = Atomic<Int>(0)
    withoutActuallyEscaping(body) { body in
        let shared = unsafeBitCast(body, to: (@Sendable (Int, Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            while case let item = next.add(1, ordering: .relaxed).oldValue, item < items {
                shared(worker, item)
            }
        }
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
