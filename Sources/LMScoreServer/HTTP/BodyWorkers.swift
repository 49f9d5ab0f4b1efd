import Dispatch
import Foundation

/// Runs the CPU-heavy, synchronous part of a request — decoding its JSON body (up to
/// `max_body_bytes`: parsing, tokenizing), encoding its answer — on dispatch threads, at most `width`
/// at a time. Swift's cooperative pool, where the batching actor runs, is never occupied by it, and
/// at most `width` bodies' parsed trees exist at once. A request waiting for a worker is a suspended
/// task (FIFO), not a blocked thread.
final class BodyWorkers: Sendable {
    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Locked<State>

    init(width: Int) {
        state = Locked(State(free: max(1, width)))
    }

    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try work() })
            }
        }
    }

    func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await acquire()
        defer { release() }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    private func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state in
                guard state.free > 0 else {
                    state.waiting.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if granted { continuation.resume() }
        }
    }

    /// Hands the slot to the longest waiter, or frees it.
    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}

/// A request body handed to its task, which takes it out (once) for decoding, so that the bytes are
/// freed when decoding ends rather than when the task does.
final class BodyHolder: Sendable {
    private let data: Locked<Data?>

    init(_ data: Data) { self.data = Locked(data) }

    func take() -> Data { data.withLock { $0.take() } ?? Data() }
}
