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
