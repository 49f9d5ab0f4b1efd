import Synchronization
import Testing
@testable import LMScoreEngine

/// How work is dealt to the threads: every item run once, on at most the context's threads, each with
/// its own worker index; a product's columns in whole 32-column strips, more pieces than threads only
/// for long products.
@Suite("Work split over threads")
struct ParallelTests {
    @Test(arguments: [(1, 1), (1, 5), (2, 1), (2, 2), (2, 37), (3, 100)])
    func everyItemRunsOnceOnAtMostTheThreads(threads: Int, items: Int) {
        struct Record { var runs: [Int]; var perWorker: [Int]; var badWorker = false; var running = 0; var mostAtOnce = 0 }
        let record = Mutex(Record(runs: Array(repeating: 0, count: items), perWorker: Array(repeating: 0, count: threads)))
        parallelFor(items, threads: threads) { worker, item in
            record.withLock { r in
                r.running += 1
                r.mostAtOnce = max(r.mostAtOnce, r.running)
                if worker < 0 || worker >= threads { r.badWorker = true } else { r.perWorker[worker] += 1 }
                r.runs[item] += 1
            }
            var spin = 0   // long enough for another thread to take the next item meanwhile
            for i in 0..<20_000 { spin &+= i }
            if spin == -1 { print(spin) }
            record.withLock { $0.running -= 1 }
        }
        let r = record.withLock { $0 }
        #expect(r.runs.allSatisfy { $0 == 1 }, "\(items) items on \(threads) threads")
        #expect(!r.badWorker)
        #expect(r.perWorker.reduce(0, +) == items)
        #expect(r.mostAtOnce <= threads)
    }

    @Test func noItemsRunsNothing() {
        let ran = Mutex(false)
        parallelFor(0, threads: 4) { _, _ in ran.withLock { $0 = true } }
        #expect(!ran.withLock { $0 })
    }

    @Test(arguments: [(16, 768, 3072), (1016, 768, 3072), (256, 768, 4096), (1016, 3072, 768), (400, 600, 150), (24, 768, 2304), (1, 64, 10)])
    func columnPiecesAreWholeStripsCoveringTheColumns(m: Int, k: Int, n: Int) {
        for threads in [1, 2, 3, 8] {
            let pieces = columnPieces(n, m: m, k: k, threads: threads)
            #expect(pieces.first?.lowerBound == 0 && pieces.last?.upperBound == n, "\(m)×\(k)×\(n), \(threads) threads")
            #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(pieces.dropLast().allSatisfy { $0.count % 32 == 0 && !$0.isEmpty })
            let wanted = m * n * k >= piecewiseProductLimit ? threads * piecesPerThread : threads
            #expect(pieces.count == min(wanted, (n + 31) / 32), "\(m)×\(k)×\(n), \(threads) threads: \(pieces.count) pieces")
        }
    }
}

/// The compute pool (ComputePool.swift): every part of a region once, region after region — from
/// sleep and while its workers still spin — and a caller that finds it busy or too small told so
/// (`parallelFor` then runs the region on Dispatch).
@Suite("Compute pool")
struct ComputePoolTests {
    /// Regions needing one, two or three of three workers in turn (a worker one region does not need
    /// must not take part in the next uninvited), with as many items as threads or up to four more:
    /// each item once, each on one of the region's threads (no two items on one thread at once), and
    /// none still running when `run` returns.
    @Test(.timeLimit(.minutes(1)))
    func everyItemRunsOnceInRegionAfterRegion() async throws {
        let pool = ComputePool(workers: 3)
        let running = Mutex(0)
        for region in 0..<3000 {
            let threads = 2 + region % 3, items = threads + region % 5
            let runs = Mutex([Int](repeating: 0, count: items))
            let busyWorkers = Mutex(Set<Int>())
            let overlaps = Mutex(0), strangers = Mutex(0)
            let ran = pool.run(items: items, threads: threads) { worker, item in
                if !(0..<threads).contains(worker) { strangers.withLock { $0 += 1 } }
                if !busyWorkers.withLock({ $0.insert(worker).inserted }) { overlaps.withLock { $0 += 1 } }
                running.withLock { $0 += 1 }
                runs.withLock { $0[item] += 1 }
                var spin = 0
                for i in 0..<(item * 2_000) { spin &+= i }   // items of different lengths
                if spin == -1 { print(spin) }
                running.withLock { $0 -= 1 }
                _ = busyWorkers.withLock { $0.remove(worker) }
            }
            #expect(ran)
            #expect(runs.withLock { $0 } == [Int](repeating: 1, count: items), "region \(region)")
            #expect(running.withLock { $0 } == 0, "region \(region): an item still running after run returned")
            #expect(strangers.withLock { $0 } == 0 && overlaps.withLock { $0 } == 0, "region \(region): worker indices")
            if region % 1000 == 999 { try await Task.sleep(for: .milliseconds(5)) }   // the workers fall asleep
        }
    }

    @Test func aBusyOrTooSmallPoolRunsNothing() {
        let pool = ComputePool(workers: 1)
        #expect(!pool.run(items: 3, threads: 3) { _, _ in Issue.record("ran with too few workers") })
        let inner = Mutex<Bool?>(nil)
        #expect(pool.run(items: 2, threads: 2) { _, part in
            if part == 0 { inner.withLock { $0 = pool.run(items: 2, threads: 2) { _, _ in } } }
        })
        #expect(inner.withLock { $0 } == false, "a region inside a region is refused")
        #expect(!pool.run(items: 1, threads: 1) { _, _ in Issue.record("one thread needs no pool") })
    }

    /// Through `parallelFor`: regions from two callers at once both complete (one on the pool, the
    /// other on Dispatch), each part once.
    @Test(.timeLimit(.minutes(1)))
    func twoCallersAtOnce() async {
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    var ok = true
                    for _ in 0..<500 {
                        let runs = Mutex([0, 0])
                        parallelFor(2) { part in runs.withLock { $0[part] += 1 } }
                        ok = ok && runs.withLock { $0 } == [1, 1]
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
