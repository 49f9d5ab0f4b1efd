import Foundation

/// One line of an OpenAI batch input file:
/// `{"custom_id": "...", "method": "POST", "url": "/score", "body": {...}}`.
/// A line that is not such an envelope is a `BatchLineError` (it gets an `error` object in the
/// output); the body itself is only checked later, by the endpoint's own decoder.
public struct BatchInputLine: Sendable {
    public let customID: String
    public let endpoint: Endpoint
    /// The `body` member as JSON text, for `Endpoint.decode` (empty when the line has none: the
    /// endpoint then answers 400 as it does to an empty HTTP body).
    public let body: Data

    static let knownFields: Set<String> = ["custom_id", "method", "url", "body"]

    /// Parses a line's envelope. When the line fails after its `custom_id` was read, the error carries it.
    public static func parse(_ line: Data) throws(BatchLineError) -> BatchInputLine {
        let object: [String: Any]
        do {
            object = try JSONReader.object(JSONReader.parse(line), at: "", known: knownFields)
        } catch {
            throw BatchLineError(code: error.status == 400 ? "invalid_json" : "invalid_line", message: error.description, customID: nil)
        }
        guard let customID = object["custom_id"] as? String else {
            throw BatchLineError(code: "invalid_custom_id",
                                 message: object["custom_id"] == nil ? "`custom_id` is required" : "`custom_id` must be a string",
                                 customID: nil)
        }
        guard let method = object["method"] as? String, method == "POST" else {
            let given = (object["method"] as? String).map { "`\($0)`" } ?? "no method"
            throw BatchLineError(code: "invalid_method", message: "\(given): every batch request is a POST", customID: customID)
        }
        guard let url = object["url"] as? String, let endpoint = Endpoint(path: url) else {
            let given = (object["url"] as? String).map { "`\($0)`" } ?? "no url"
            let known = Endpoint.allCases.map(\.rawValue).joined(separator: ", ")
            throw BatchLineError(code: "invalid_url", message: "\(given): the url must be one of \(known)", customID: customID)
        }
        var body = Data()
        if let value = object["body"], !JSONReader.isNull(value) {
            // Re-encoded so the endpoint reads exactly what an HTTP client would have sent.
            body = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])) ?? Data()
        }
        return BatchInputLine(customID: customID, endpoint: endpoint, body: body)
    }

    /// The `custom_id` of a line, or nil when the line has none a batch could use (the duplicate check).
    public static func customID(of line: Data) -> String? {
        guard let object = try? JSONReader.parse(line) as? [String: Any] else { return nil }
        return object["custom_id"] as? String
    }
}

/// A batch input line that is not a request lmscore can route: not JSON, no `custom_id`, a method
/// other than POST, an unknown url. Written as the output line's `error` object (OpenAI's batch error:
/// `code`, `message`, `line`), with `response` null.
public struct BatchLineError: Error, Sendable, Equatable {
    public let code: String
    public let message: String
    public let customID: String?

    public init(code: String, message: String, customID: String?) {
        self.code = code
        self.message = message
        self.customID = customID
    }
}
