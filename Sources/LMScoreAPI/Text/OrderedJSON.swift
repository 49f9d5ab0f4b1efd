import Foundation

/// A JSON value whose objects keep their keys in the order written. Foundation's JSONEncoder on Linux
/// writes keys in hash order (or sorted), but OpenAI's `top_logprobs` lists the most likely token
/// first and clients read it that way.
indirect enum OrderedJSON {
    case object([(String, OrderedJSON)])
    case array([OrderedJSON])
    case string(String)
    case int(Int)
    /// Non-finite doubles are written as the strings "NaN", "Infinity", "-Infinity" (JSON has none).
    case double(Double)
    case bool(Bool)
    case null

    static func optional(_ value: OrderedJSON?) -> OrderedJSON { value ?? .null }

    var data: Data {
        var writer = JSONWriter()
        write(into: &writer)
        return writer.data
    }

    private func write(into out: inout JSONWriter) {
        switch self {
        case .object(let members):
            out.raw("{")
            var first = true
            for (key, value) in members {
                out.key(key, first: &first)
                value.write(into: &out)
            }
            out.raw("}")
        case .array(let items): out.array(items) { out, item in item.write(into: &out) }
        case .string(let string): out.string(string)
        case .int(let value): out.int(value)
        case .double(let value): out.double(value)
        case .bool(let value): out.bool(value)
        case .null: out.raw("null")
        }
    }
}
