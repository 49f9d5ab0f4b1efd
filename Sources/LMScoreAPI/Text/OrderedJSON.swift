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
        var out = ""
        write(into: &out)
        return Data(out.utf8)
    }

    private func write(into out: inout String) {
        switch self {
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .string(let string): Self.writeString(string, into: &out)
        case .int(let value): out += String(value)
        case .double(let value):
            if value.isNaN { out += "\"NaN\"" }
            else if value.isInfinite { out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
            else { out += "\(value)" }   // Swift's shortest round-trip form, as JSONEncoder writes it
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        }
    }

    private static func writeString(_ string: String, into out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
