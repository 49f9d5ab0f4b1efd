import Foundation

/// One HTTP request's state, from its headers to MHD's completion callback. MHD keeps a retained
/// pointer to it in the request's `con_cls` slot.
///
/// Threading: everything but `readyResponse` is touched only by the event-loop thread (MHD calls its
/// handlers there). `readyResponse` is set once by whichever task produced the answer, under the
/// server's lock, before the loop thread resumes the connection.
final class RequestContext: @unchecked Sendable {
    let method: String
    let path: String
    let connection: OpaquePointer
    let start = ContinuousClock.Instant.now
    var body: [UInt8] = []
    var receivedBytes = 0
    var bodyTooLarge = false
    var suspended = false
    /// Set by the scoring task; read by the loop thread after resume.
    var readyResponse: Response?

    // For the access log and metrics.
    /// The status of the answer handed to MHD (0: none yet).
    var status = 0
    /// Set when MHD ended the request without sending a whole answer; nil once it was delivered.
    var unanswered: Unanswered?
    var rows = 0
    var tokens = 0
    var queueSeconds: Double?

    init(method: String, path: String, connection: OpaquePointer) {
        self.method = method
        self.path = path
        self.connection = connection
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
