import CKernels
import Foundation
import Synchronization

/// The threads that run the engine's parallel regions (`parallelFor`): workers that stay between
/// regions and, after one, spin for the next for a while (`spinTime`) before they sleep. A forward
/// pass is hundreds of regions a few microseconds apart — a product, a norm pass, attention, the LM
/// head's fold — and a sleeping thread takes 13–31 µs to wake (median; p90 44–170 µs, and in 3–13 %
/// of 150-µs regions it never arrived before the caller had done all the work: Dispatch's
/// `concurrentPerform` on a 2-vCPU Zen 4 VM), so a region started from sleep leaves its other thread
/// idle that long. The calling thread takes part in its region: on n threads, n − 1 workers help,
/// each taking the region's next item when it comes free.
///
/// One region at a time: a caller that finds the pool running another region (two scorers at once)
/// or needing more workers than the pool has runs its region on Dispatch instead (`parallelFor`).
final class ComputePool: @unchecked Sendable {
    /// The process's pool: a worker per compute thread but the caller's (`ComputeThreads`, set before
    /// the first region: `--threads`, the server's `threads`), at most one per core but the caller's —
    /// a spinning worker on a core another worker needs would only hold it up; with more threads than
    /// cores the regions run on Dispatch.
    static let shared = ComputePool(workers: max(0, min(ComputeThreads.count, ProcessInfo.processInfo.activeProcessorCount) - 1))

    /// How long a worker spins for the next region before it sleeps.
    static let spinTime: UInt64 = 200_000   // ns

    let workers: Int
    private let busy = Atomic<Bool>(false)        // a caller holds the pool
    /// What the workers wait for: the region's number (high bits) and how many workers it needs (low
    /// 16 bits), in one word so that a worker reads both at once — a worker a region does not need is
    /// not waited for, and by the time it looks the next region may be filling in its fields.
    private let region = Atomic<Int>(0)
    private let next = Atomic<Int>(0)             // the region's next item to run
    private let helping = Atomic<Int>(0)          // helpers still inside the region
    private let sleep = NSCondition()             // sleeping workers wait on it for a new region
    // The region's work, written by its caller before `region` moves on (releasing) and read by its
    // helpers after they see it (acquiring); unchanged until every helper has left.
    private var body: ((_ worker: Int, _ item: Int) -> Void)?
    private var items = 0

    /// Starts the workers, which wait (asleep) for the first region.
    init(workers: Int) {
        self.workers = workers
        for index in 0..<workers {
            let thread = Thread { [unowned self] in self.work(index: index) }
            thread.name = "lmscore-compute-\(index + 1)"
            thread.start()
        }
    }

    /// Runs body(worker, item) for item = 0 ..< items, each once, on the calling thread (worker 0) and
    /// threads − 1 workers (1 ..< threads), each taking the next item when it comes free, and returns
    /// when all are done; false (nothing run) when the pool is busy or has too few workers.
    func run(items: Int, threads: Int, _ body: (_ worker: Int, _ item: Int) -> Void) -> Bool {
        guard threads >= 2, threads - 1 <= workers, threads - 1 <= Self.helperMask,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.items = items
            next.store(0, ordering: .relaxed)
            helping.store(threads - 1, ordering: .relaxed)
            let number = region.load(ordering: .relaxed) >> Self.helperBits + 1   // only the caller holding `busy` writes it
            region.store(number << Self.helperBits | (threads - 1), ordering: .releasing)
            sleep.lock()
            sleep.broadcast()
            sleep.unlock()
            runItems(worker: 0)
            while helping.load(ordering: .acquiring) > 0 { lmk_spin_pause() }
            self.body = nil
        }
        return true
    }

    private func runItems(worker: Int) {
        while case let item = next.add(1, ordering: .relaxed).oldValue, item < items {
            body!(worker, item)
        }
    }

    private static let helperBits = 16
    private static let helperMask = 1 << helperBits - 1

    /// A worker: waits for each new region and helps when the region needs it — spinning a while after
    /// a region it helped in, asleep after one that needed fewer workers (or when the spin runs out).
    private func work(index: Int) {
        var seen = 0   // no region yet: `init` returns before any caller can start one
        var spin = true
        while true {
            let spinStart = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            var current = region.load(ordering: .acquiring)
            while current == seen {
                lmk_spin_pause()
                spins += 1
                if !spin || (spins % 64 == 0 && DispatchTime.now().uptimeNanoseconds - spinStart > Self.spinTime) {
                    sleep.lock()
                    while region.load(ordering: .acquiring) == seen { sleep.wait() }
                    sleep.unlock()
                }
                current = region.load(ordering: .acquiring)
            }
            // A region this worker helps in cannot be followed by another before it has helped, so
            // `current` is the region whose fields it reads; one it is not needed in, it only notes.
            seen = current
            spin = index < current & Self.helperMask
            if spin {
                runItems(worker: index + 1)
                helping.subtract(1, ordering: .releasing)
            }
        }
    }
}
