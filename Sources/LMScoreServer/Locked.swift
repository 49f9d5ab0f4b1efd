import Foundation

/// A value guarded by a pthread mutex (NSLock). Not `Synchronization.Mutex`: on Linux its futex-based
/// locking is invisible to ThreadSanitizer, which then reports races that are not there — and the
/// server's test suite must run clean under `--sanitize=thread`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// One value passed from the thread that makes it to the task that awaits it, through a lock. A
/// continuation's resume already orders the two, but ThreadSanitizer on Linux cannot see that edge
/// and reports the result's arrays as racing; the lock is an edge it sees. The awaiting side creates
/// the handoff (so its own fields are not published through the resume either).
final class Handoff<Value: Sendable>: Sendable {
    private let slot = Locked<Value?>(nil)

    func put(_ value: Value) { slot.withLock { $0 = value } }

    /// The value `put` stored; call only after being resumed by the putter.
    func take() -> Value { slot.withLock { $0.take()! } }
}
