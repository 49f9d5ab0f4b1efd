import Foundation

/// Reads request values out of `JSONSerialization`'s tree with exact JSON paths in every error.
/// (Foundation's `JSONDecoder` on Linux reports a number that does not fit its field — 1.5 or 1e10 as a
/// token id — as corrupt JSON with no path, which would turn a 422 into a 400.)
struct JSONReader {
    /// Parses a body: 400 when it is not JSON at all. What Foundation's parser (Swift 6.3, Linux) does
    /// with hostile bodies, pinned by HostileInputTests:
    /// - nesting deeper than 512 arrays/objects is refused ("Too many nested arrays or dictionaries"),
    ///   so no body can exhaust the stack;
    /// - a duplicate key: the **last** occurrence wins (`{"top_k": 1, "top_k": 5}` is top_k 5), as in
    ///   JavaScript and Python;
    /// - a UTF-8 byte order mark is ignored (RFC 8259 §8.1 allows it); invalid UTF-8, NaN/Infinity and
    ///   numbers beyond Double (1e400) are refused;
    /// - it would read UTF-16 and UTF-32 bodies: those are refused here first, as is any NUL byte, which
    ///   UTF-8 JSON text cannot hold;
    /// - it accepts one trailing comma (`[1,]`, `{"a": 1,}`), which JSON does not: refused here first.
    static func parse(_ data: Data) throws(APIError) -> Any {
        if let offset = firstNUL(in: data) {
            throw .malformedJSON("NUL byte at offset \(offset): the body must be UTF-8 JSON text (UTF-16 and UTF-32 are not accepted)")
        }
        if let (offset, bracket) = trailingComma(in: data) {
            throw .malformedJSON("trailing comma before `\(bracket)` at offset \(offset)")
        }
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
                throw .malformedJSON(data.isEmpty ? "the body is empty" : "the body holds only whitespace")
            }
            let nsError = error as NSError
            let detail = (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
            throw .malformedJSON(detail)
        }
    }

    /// The offset of the first `]` or `}` that follows a comma (whitespace between), outside strings.
    private static func trailingComma(in data: Data) -> (Int, Character)? {
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> (Int, Character)? in
            guard let bytes = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            let count = buffer.count
            var i = 0
            var previous: UInt8 = 0   // the last byte outside strings that is not whitespace
            while i < count {
                let byte = bytes[i]
                i += 1
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D:
                    continue
                case 0x22:   // a string: skip to its closing quote
                    while i < count && bytes[i] != 0x22 { i += bytes[i] == 0x5C ? 2 : 1 }
                    i += 1
                case 0x5D, 0x7D:   // ] }
                    if previous == 0x2C { return (i - 1, byte == 0x5D ? "]" : "}") }
                default:
                    break
                }
                previous = byte
            }
            return nil
        }
    }

    private static func firstNUL(in data: Data) -> Int? {
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> Int? in
            guard let base = buffer.baseAddress, let found = memchr(base, 0, buffer.count) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
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

    /// A number whose value is an integer, as an Int64. That is JSON Schema's `integer` (what openapi.yaml
    /// promises), however it is written: 2.0 and 1e2 are 2 and 100, as pydantic (and so vLLM) read them.
    static func integer(_ value: Any, at path: String, what: String = "an integer") throws(APIError) -> Int64 {
        guard let number = numberValue(value), !isBool(number) else {
            throw .invalid(path, "expected \(what), got \(typeName(value))", code: "invalid_type")
        }
        switch String(cString: number.objCType) {
        case "c", "s", "i", "l", "q", "C", "S", "I", "L": return number.int64Value
        case "Q": throw .invalid(path, "\(number) is out of range", code: "invalid_value")
        // Foundation reads a literal with more digits than Int64/Double hold exactly (an integer beyond
        // Int64, e.g. 99999999999999999999999) as an NSDecimalNumber: out of range, not "not an integer".
        // It does so for negative integers near Int64.min too, so compare the exact decimal (its Double
        // would round -9223372036854775807 to -2^63).
        case _ where number is NSDecimalNumber && !int64Range.contains(number.decimalValue):
            throw .invalid(path, "\(number) is out of range", code: "invalid_value")
        default:
            guard let integer = try integralValue(number, at: path) else {
                throw .invalid(path, "expected \(what), got the number \(number)", code: "invalid_type")
            }
            return integer
        }
    }

    private static let int64Range = Decimal(Int64.min)...Decimal(Int64.max)

    /// A number written with a fraction or an exponent: its value when that is an integer, nil when not.
    /// Foundation keeps a literal that a Double cannot hold exactly as an NSDecimalNumber, so
    /// 3.0000000000000000000000001 stays a fraction here (its Double would be 3.0).
    private static func integralValue(_ number: NSNumber, at path: String) throws(APIError) -> Int64? {
        if let decimal = (number as? NSDecimalNumber)?.decimalValue {
            var exact = decimal
            var rounded = Decimal()
            NSDecimalRound(&rounded, &exact, 0, .plain)
            guard rounded == decimal else { return nil }
            return number.int64Value   // within Int64: larger decimals are refused above
        }
        let double = number.doubleValue
        guard double.isFinite, double.rounded(.towardZero) == double else { return nil }
        guard let integer = Int64(exactly: double) else {
            throw .invalid(path, "\(number) is out of range", code: "invalid_value")
        }
        return integer
    }

    static func string(_ value: Any, at path: @autoclosure () -> String) throws(APIError) -> String {
        guard let string = value as? String else { throw .invalid(path(), "expected a string, got \(typeName(value))", code: "invalid_type") }
        return string
    }

    /// Any JSON number (integer or not), as a Double.
    static func number(_ value: Any, at path: String) throws(APIError) -> Double {
        guard let number = numberValue(value), !isBool(number) else {
            throw .invalid(path, "expected a number, got \(typeName(value))", code: "invalid_type")
        }
        return number.doubleValue
    }

    static func bool(_ value: Any, at path: String) throws(APIError) -> Bool {
        guard let number = numberValue(value), isBool(number) else {
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

    /// `[int]` of token ids. `path` is only built for an error (a million one-token rows would otherwise
    /// format a million paths).
    static func tokenRow(_ value: Any, at path: @autoclosure () -> String, vocabSize: Int, allowIgnored: Bool) throws(APIError) -> [Int32] {
        guard let row = value as? [Any] else {
            throw .invalid(path(), "expected an array, got \(typeName(value))", code: "invalid_type")
        }
        var ids: [Int32] = []
        ids.reserveCapacity(row.count)
        for (t, idValue) in row.enumerated() {
            if let id = plainInt32(idValue) {
                ids.append(id)
                continue
            }
            let id = try integer(idValue, at: "\(path())[\(t)]", what: "a token id (integer)")
            guard let narrow = Int32(exactly: id) else {
                let allowed = allowIgnored ? "[0, \(vocabSize)) or -100 (ignored)" : "[0, \(vocabSize))"
                throw .invalid("\(path())[\(t)]", "token id \(id) is out of range: expected \(allowed)")
            }
            ids.append(narrow)
        }
        return ids
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        type(of: number) != NSNumber.self && String(cString: number.objCType) == "c"
    }

    /// JSON null. Use this, never `value is NSNull`, on parsed values: on Linux, testing or casting a Swift
    /// array or dictionary against a class (`is NSNull`, `as? NSNumber`) makes the runtime first bridge its
    /// whole subtree to NSArray/NSDictionary — about 4 s for a million one-token rows, each time, and a
    /// recursion as deep as the nesting (512 levels, which the parser allows, need more than 512 KB of
    /// stack; Swift's threads have 8 MB on Linux). Testing the dynamic type costs nothing.
    static func isNull(_ value: Any) -> Bool { type(of: value) is NSNull.Type }

    /// `value as? NSNumber` without the bridging `isNull` describes.
    private static func numberValue(_ value: Any) -> NSNumber? {
        type(of: value) is NSNumber.Type ? value as? NSNumber : nil
    }

    /// The common case of a token id, checked without building a path: a plain integer NSNumber in Int32.
    @inline(__always)
    private static func plainInt32(_ value: Any) -> Int32? {
        guard let number = numberValue(value) else { return nil }
        switch UInt8(bitPattern: number.objCType.pointee) {
        case UInt8(ascii: "s"), UInt8(ascii: "i"), UInt8(ascii: "l"), UInt8(ascii: "q"),
             UInt8(ascii: "C"), UInt8(ascii: "S"), UInt8(ascii: "I"), UInt8(ascii: "L"):
            return Int32(exactly: number.int64Value)
        default:
            return nil   // "c" (maybe a boolean), "Q", floating point: the slow path says what is wrong
        }
    }

    static func typeName(_ value: Any) -> String {
        if isNull(value) { return "null" }
        if let number = numberValue(value) { return isBool(number) ? "a boolean" : "a number" }
        switch value {
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "an unsupported value"
        }
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
