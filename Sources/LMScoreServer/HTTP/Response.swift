import Foundation
import LMScoreAPI

/// An HTTP response before it is handed to libmicrohttpd.
struct Response: Sendable {
    var status: Int
    var body: [UInt8]
    var contentType = "application/json"
    var headers: [(String, String)] = []

    static func json(_ status: Int, _ data: Data) -> Response {
        Response(status: status, body: [UInt8](data))
    }

    static func json(_ status: Int, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return .json(status, data)
    }

    /// The error body `{"error": {...}}` with the error's own status and any headers it implies.
    static func error(_ error: APIError) -> Response {
        var response = Response.json(error.status, error.jsonBody)
        if let retryAfter = error.retryAfter { response.headers.append(("Retry-After", String(retryAfter))) }
        if error.status == 405 { response.headers.append(("Allow", error.allow ?? "")) }
        return response
    }
}
