import Foundation

/// One line of an OpenAI batch output file, its members in OpenAI's order:
/// `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`.
/// `id` and `request_id` are derived from the input line number (`batch_req_<line>`, `req_<line>`), so a
/// rerun, a resumed run and merged shards write the same bytes, and `lmscore batch --merge` can restore
/// input order from the lines alone.
public enum BatchOutputLine {
    public static let idPrefix = "batch_req_"

    /// An answered request: the endpoint's status and body (a 200 answer or its 4xx error body).
    public static func response(line: Int, customID: String, status: Int, body: Data) -> Data {
        var out = JSONWriter(reservingCapacity: body.count + 128)
        var first = true
        start(&out, first: &first, line: line, customID: customID)
        out.key("response", first: &first)
        var inner = true
        out.raw("{")
        out.key("status_code", first: &inner); out.int(status)
        out.key("request_id", first: &inner); out.string("req_\(line)")
        out.key("body", first: &inner); out.json(body)
        out.raw("}")
        out.key("error", first: &first); out.raw("null")
        out.raw("}\n")
        return out.data
    }

    /// A line that could not be routed: `response` null, `error` `{code, message, line}`.
    public static func failure(line: Int, error: BatchLineError) -> Data {
        var out = JSONWriter(reservingCapacity: 256)
        var first = true
        start(&out, first: &first, line: line, customID: error.customID)
        out.key("response", first: &first); out.raw("null")
        out.key("error", first: &first)
        var inner = true
        out.raw("{")
        out.key("code", first: &inner); out.string(error.code)
        out.key("message", first: &inner); out.string(error.message)
        out.key("line", first: &inner); out.int(line)
        out.raw("}")
        out.raw("}\n")
        return out.data
    }

    private static func start(_ out: inout JSONWriter, first: inout Bool, line: Int, customID: String?) {
        out.raw("{")
        out.key("id", first: &first); out.string(idPrefix + String(line))
        out.key("custom_id", first: &first)
        if let customID { out.string(customID) } else { out.raw("null") }
    }

    /// The input line number an output line was written for (from its `id`), nil for a line that is
    /// not a batch output line.
    public static func inputLine(of output: Data) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: output) as? [String: Any],
              let id = object["id"] as? String, id.hasPrefix(idPrefix) else { return nil }
        return Int(id.dropFirst(idPrefix.count))
    }
}
