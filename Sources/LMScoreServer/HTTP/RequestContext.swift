import Foundation

/// One HTTP request's state, from its headers to MHD's completion callback. MHD keeps a retained
/// pointer to it in the request's `con_cls` slot.
///
/// Threading — each field has one owner:
/// - `answer` is written once, under the server's lock, by whoever answers first (the request's task,
///   the drain deadline, a hang-up); it is read under that lock too (`HTTPServer.answer(of:)`).
/// - `bodyReservation` is `Sendable` (its bytes are atomic): the loop thread grows it as the body
///   arrives, the request's task releases it once the body is decoded.
/// - Everything else is the event-loop thread's (MHD calls its handlers there). The request's task
///   never touches it: what the task learns (rows, tokens, time queued) travels in `answer`.
final class RequestContext: @unchecked Sendable {
    let method: String
    let path: String
    let connection: OpaquePointer
    let start = ContinuousClock.Instant.now
    /// The body received so far (loop thread), handed whole to the request's task.
    var body = Data()
    var receivedBytes = 0
    var bodyTooLarge = false
    /// The body's bytes counted against `max_body_bytes_in_flight` until the body is decoded.
    let bodyReservation: BodyBudget.Reservation
    var suspended = false
    /// The connection's socket while it is suspended and watched for a hang-up (-1: not watched).
    var watchedSocket: Int32 = -1
    /// The task answering the request, cancelled when the client hangs up before its answer.
    var task: Task<Void, Never>?
    /// The answer and what the task learned on the way; see the threading note above.
    var answer: Answer?

    // For the access log and metrics.
    /// The status of the answer handed to MHD (0: none yet).
    var status = 0
    /// Set when MHD ended the request without sending a whole answer; nil once it was delivered.
    var unanswered: Unanswered?

    init(method: String, path: String, connection: OpaquePointer, bodyReservation: BodyBudget.Reservation) {
        self.method = method
        self.path = path
        self.connection = connection
        self.bodyReservation = bodyReservation
    }
}

/// A request's answer, with what scoring it took (for the access log), handed from the task that
/// produced it to the loop thread in one piece.
struct Answer: Sendable {
    var response: Response
    var work: ScoringWork?

    /// What the engine did for a scored request.
    struct ScoringWork: Sendable {
        var rows: Int
        var tokens: Int
        /// Seconds the request waited for its forward pass (nil: it never reached one).
        var queueSeconds: Double?
    }
}

/// Why a request ended without its answer reaching the client
/// (`lmscore_requests_unanswered_total{reason}`).
enum Unanswered: String, Sendable {
    /// The client closed or reset the connection before the answer was sent.
    case clientClosed = "client_closed"
    /// The server closed it: the body was still arriving after `body_timeout`.
    case bodyTimeout = "body_timeout"
    /// The server closed it: a chunked body ran on to twice `max_body_bytes`.
    case bodyOverLimit = "body_over_limit"
    /// The daemon stopped with the request still open (after the drain).
    case shutdown
}
