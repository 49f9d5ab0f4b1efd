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
