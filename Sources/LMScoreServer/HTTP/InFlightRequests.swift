import Dispatch

/// The requests whose headers arrived and whose end MHD has not reported yet, and the tasks waiting
/// for there to be none. A waiter is woken by the last request's end or by its deadline (a dispatch
/// timer) — it neither polls nor blocks a thread of Swift's cooperative pool.
final class InFlightRequests: Sendable {
    private struct State {
        var count = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Locked(State())

    var count: Int { state.withLock { $0.count } }

    /// A request began; returns the new count.
    func enter() -> Int { state.withLock { $0.count += 1; return $0.count } }

    /// A request ended; returns the new count. The last one out wakes every waiter.
    func leave() -> Int {
        let (count, woken) = state.withLock { state -> (Int, [CheckedContinuation<Bool, Never>]) in
            state.count -= 1
            guard state.count == 0 else { return (state.count, []) }
            defer { state.waiters.removeAll() }
            return (0, Array(state.waiters.values))
        }
        for waiter in woken { waiter.resume(returning: true) }
        return count
    }

    /// Waits until no request is in flight (true) or `deadline` passes (false). Task cancellation does
    /// not cut the wait short: the drain keeps its timing when its task is cancelled.
    func waitUntilNone(deadline: ContinuousClock.Instant) async -> Bool {
        await withCheckedContinuation { continuation in
            let id: UInt64? = state.withLock { state in
                guard state.count > 0 else { return nil }
                state.nextWaiter += 1
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let id else { return continuation.resume(returning: true) }
            let remaining = max(0, seconds(deadline - .now))
            DispatchQueue.global().asyncAfter(deadline: .now() + remaining) { [self] in
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
            }
        }
    }
}

/// Something that happens once (the HTTP loop thread has finished), awaited without blocking a thread.
final class OneTimeEvent: Sendable {
    private struct State {
        var happened = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Locked(State())

    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.happened = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let happened = state.withLock { state in
                if !state.happened { state.waiters.append(continuation) }
                return state.happened
            }
            if happened { continuation.resume() }
        }
    }
}
