import Foundation
import LMScoreEngine

/// An error as clients see it: an HTTP status and the OpenAI-style body
/// `{"error": {"message", "type", "param", "code"}}`. Every failure is mapped to one of these here,
/// in one place, so the CLI and the HTTP server report the same thing the same way.
public struct APIError: Error, Equatable, CustomStringConvertible {
    public let status: Int
    public let type: String
    public let code: String
    public let message: String
    public let param: String?
    /// Seconds a client should wait before retrying (429: sent as `Retry-After`).
    public var retryAfter: Int?
    /// Methods a path accepts (405: sent as `Allow`).
    public var allow: String?

    public init(status: Int, type: String, code: String, message: String, param: String? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
    }

    public var description: String {
        param.map { "\($0): \(message)" } ?? message
    }

    /// 400: the body is not JSON.
    public static func malformedJSON(_ detail: String) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: "malformed_json", message: "request body is not valid JSON: \(detail)")
    }

    /// 422: JSON, but not a request lmscore can score; `param` is the path of the culprit.
    public static func invalid(_ param: String?, _ message: String, code: String = "invalid_value") -> APIError {
        APIError(status: 422, type: "invalid_request_error", code: code, message: message, param: param)
    }

    public init(_ error: ValidationError) {
        switch error.kind {
        case .invalidValue: self = .invalid(error.parameter, error.message)
        case .contextLengthExceeded: self = .invalid(error.parameter, error.message, code: "context_length_exceeded")
        }
    }

    public var jsonBody: Data {
        struct Body: Encodable {
            struct Inner: Encodable {
                let message: String
                let type: String
                let param: String?
                let code: String

                func encode(to encoder: Encoder) throws {
                    var c = encoder.container(keyedBy: CodingKeys.self)
                    try c.encode(message, forKey: .message)
                    try c.encode(type, forKey: .type)
                    try c.encode(param, forKey: .param)   // explicit null when absent
                    try c.encode(code, forKey: .code)
                }
                enum CodingKeys: String, CodingKey { case message, type, param, code }
            }
            let error: Inner
        }
        let body = Body(error: .init(message: message, type: type, param: param, code: code))
        return (try? JSONEncoder.sortedKeys.encode(body)) ?? Data(#"{"error":{"message":"internal error"}}"#.utf8)
    }
}

extension JSONEncoder {
    static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
