import Synchronization

/// The bytes of request bodies the server holds at once — received, or received and not yet decoded —
/// bounded by `max_body_bytes_in_flight`. Token admission (`max_queued_tokens`) only sees a request
/// after its JSON is parsed; this budget bounds memory before that: 8,192 connections × 8 MiB bodies
/// would otherwise be 64 GiB.
///
/// Every body reserves its bytes when its headers arrive — its Content-Length, or `max_body_bytes` for
/// a chunked body (its size is unknown until it ends, and libmicrohttpd cannot answer mid-body) — so
/// a body that would not fit is refused (429) before a byte of it is read. A reservation is given back when the body has been decoded
/// (the parsed request is then counted in tokens) or when the request ends, whichever comes first.
final class BodyBudget: Sendable {
    let limit: Int
    /// The bytes held; the gauge is recorded under the same lock, so it never shows a stale value.
    private let held = Locked(0)
    /// Told the bytes held after every change (the `lmscore_http_body_bytes_in_flight` gauge).
    private let observe: @Sendable (Int) -> Void

    init(limit: Int, observe: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.limit = limit
        self.observe = observe
    }

    /// A new, empty reservation.
    func reservation() -> Reservation { Reservation(budget: self) }

    /// Adds `bytes` if they fit. One body is always admitted when nothing else is held, so a body
    /// within `max_body_bytes` is never refused forever by a smaller budget.
    fileprivate func take(_ bytes: Int) -> Bool {
        held.withLock { held in
            guard held == 0 || held + bytes <= limit else { return false }
            held += bytes
            observe(held)
            return true
        }
    }

    fileprivate func giveBack(_ bytes: Int) {
        held.withLock { held in
            held -= bytes
            observe(held)
        }
    }

    /// One request's share of the budget.
    final class Reservation: Sendable {
        private let budget: BodyBudget
        private let bytes = Atomic<Int>(0)

        fileprivate init(budget: BodyBudget) { self.budget = budget }

        /// Grows the reservation to at least `total` bytes; false (and unchanged) if that does not fit.
        func grow(to total: Int) -> Bool {
            let current = bytes.load(ordering: .relaxed)
            guard total > current else { return true }
            guard budget.take(total - current) else { return false }
            bytes.add(total - current, ordering: .relaxed)
            return true
        }

        /// Gives back what is reserved beyond `total` bytes (a chunked body, reserved at
        /// `max_body_bytes`, once its real size is known).
        func shrink(to total: Int) {
            let current = bytes.load(ordering: .relaxed)
            guard current > total else { return }
            bytes.subtract(current - total, ordering: .relaxed)
            budget.giveBack(current - total)
        }

        /// Gives every reserved byte back; later calls do nothing.
        func release() {
            let returned = bytes.exchange(0, ordering: .relaxed)
            if returned > 0 { budget.giveBack(returned) }
        }
    }
}
