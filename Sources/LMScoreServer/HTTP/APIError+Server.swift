import LMScoreAPI

/// Every error the service can answer with, mapped to its HTTP status in this one place
/// (request-body errors — 400/422 — are mapped in LMScoreAPI's `APIError` itself).
extension APIError {
    init(_ error: SchedulingError) {
        switch error {
        case .overloaded(let retryAfter):
            self.init(status: 429, type: "overloaded_error", code: "queue_full",
                      message: "too many tokens are queued; retry after \(retryAfter) s")
            self.retryAfter = retryAfter
        case .draining:
            self = .draining
        case .cancelled:
            self = .clientClosed
        case .timedOut(let waited):
            self.init(status: 504, type: "timeout_error", code: "request_timeout",
                      message: String(format: "the request waited %.1f s for a batch, longer than request_timeout", waited))
        }
    }

    static let draining = APIError(status: 503, type: "unavailable_error", code: "draining", message: "the server is shutting down")
    static let loading = APIError(status: 503, type: "unavailable_error", code: "loading", message: "the model is still loading")
    /// The client closed its connection before its answer (nginx's 499). Never delivered: it only
    /// resumes the connection so that MHD sees the close.
    static let clientClosed = APIError(status: 499, type: "client_closed", code: "client_closed",
                                       message: "the client closed the connection before the answer")

    /// 429 before a body is read: the bodies already held fill `max_body_bytes_in_flight`.
    static func bodiesInFlight(limit: Int) -> APIError {
        var error = APIError(status: 429, type: "overloaded_error", code: "body_budget_full",
                             message: "the request bodies being received and decoded fill max_body_bytes_in_flight (\(limit) bytes); retry after 1 s")
        error.retryAfter = 1
        return error
    }

    static func notFound(_ path: String) -> APIError {
        APIError(status: 404, type: "invalid_request_error", code: "not_found", message: "no route for \(path)")
    }

    static func methodNotAllowed(_ method: String, _ path: String, allowed: String) -> APIError {
        var error = APIError(status: 405, type: "invalid_request_error", code: "method_not_allowed",
                             message: "\(method) is not allowed on \(path); use \(allowed)")
        error.allow = allowed
        return error
    }

    static func tooLarge(_ bytes: Int?, limit: Int) -> APIError {
        let size = bytes.map { "\($0) bytes" } ?? "the body"
        return APIError(status: 413, type: "invalid_request_error", code: "body_too_large",
                        message: "\(size) exceeds max_body_bytes (\(limit))")
    }
}
