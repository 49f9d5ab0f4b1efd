import Foundation

/// Reads request values out of `JSONSerialization`'s tree with exact JSON paths in every error.
/// (Foundation's `JSONDecoder` on Linux reports a number that does not fit its field — 1.5 or 1e10 as a
/// token id — as corrupt JSON with no path, which would turn a 422 into a 400.)
struct JSONReader {
    /// Parses a body: 400 when it is not JSON at all.
    static func parse(_ data: Data) throws(APIError) -> Any {
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let nsError = error as NSError
            let detail = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
            throw .malformedJSON(detail)
        }
    }

    /// A JSON object whose keys are all in `known`.
    static func object(_ value: Any, at path: String, known: Set<String>) throws(APIError) -> [String: Any] {
        guard let object = value as? [String: Any] else {
            throw .invalid(path.isEmpty ? nil : path, "expected an object, got \(typeName(value))", code: "invalid_type")
        }
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            let full = join(path, unknown)
            throw .invalid(full, "unknown field `\(unknown)`; expected one of \(known.sorted().joined(separator: ", "))", code: "unknown_field")
        }
        return object
    }

    static func array(_ value: Any, at path: String) throws(APIError) -> [Any] {
        guard let array = value as? [Any] else { throw .invalid(path, "expected an array, got \(typeName(value))", code: "invalid_type") }
        return array
    }

    /// An integer written without fraction or exponent, as an Int64.
    static func integer(_ value: Any, at path: String, what: String = "an integer") throws(APIError) -> Int64 {
        guard let number = value as? NSNumber, !isBool(number) else {
            throw .invalid(path, "expected \(what), got \(typeName(value))", code: "invalid_type")
        }
        switch String(cString: number.objCType) {
        case "c", "s", "i", "l", "q", "C", "S", "I", "L": return number.int64Value
        case "Q": throw .invalid(path, "\(number) is out of range", code: "invalid_value")
        default: throw .invalid(path, "expected \(what), got the number \(number)", code: "invalid_type")
        }
    }

    static func string(_ value: Any, at path: String) throws(APIError) -> String {
        guard let string = value as? String else { throw .invalid(path, "expected a string, got \(typeName(value))", code: "invalid_type") }
        return string
    }

    /// Any JSON number (integer or not), as a Double.
    static func number(_ value: Any, at path: String) throws(APIError) -> Double {
        guard let number = value as? NSNumber, !isBool(number) else {
            throw .invalid(path, "expected a number, got \(typeName(value))", code: "invalid_type")
        }
        return number.doubleValue
    }

    static func bool(_ value: Any, at path: String) throws(APIError) -> Bool {
        guard let number = value as? NSNumber, isBool(number) else {
            throw .invalid(path, "expected true or false, got \(typeName(value))", code: "invalid_type")
        }
        return number.boolValue
    }

    /// `[[int]]` of token ids. Ids outside Int32 are reported here (the engine checks the vocabulary).
    static func tokenRows(_ value: Any, at path: String, vocabSize: Int, allowIgnored: Bool) throws(APIError) -> [[Int32]] {
        let rows = try array(value, at: path)
        var result: [[Int32]] = []
        result.reserveCapacity(rows.count)
        for (r, rowValue) in rows.enumerated() {
            result.append(try tokenRow(rowValue, at: "\(path)[\(r)]", vocabSize: vocabSize, allowIgnored: allowIgnored))
        }
        return result
    }

    /// `[int]` of token ids.
    static func tokenRow(_ value: Any, at path: String, vocabSize: Int, allowIgnored: Bool) throws(APIError) -> [Int32] {
        let row = try array(value, at: path)
        var ids: [Int32] = []
        ids.reserveCapacity(row.count)
        for (t, idValue) in row.enumerated() {
            let id = try integer(idValue, at: "\(path)[\(t)]", what: "a token id (integer)")
            guard let narrow = Int32(exactly: id) else {
                let allowed = allowIgnored ? "[0, \(vocabSize)) or -100 (ignored)" : "[0, \(vocabSize))"
                throw .invalid("\(path)[\(t)]", "token id \(id) is out of range: expected \(allowed)")
            }
            ids.append(narrow)
        }
        return ids
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        type(of: number) != NSNumber.self && String(cString: number.objCType) == "c"
    }

    static func typeName(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let number as NSNumber: return isBool(number) ? "a boolean" : "a number"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "an unsupported value"
        }
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
