import Foundation

/// Writes JSON text straight into a byte buffer, with no tree of values in between. `OrderedJSON`
/// writes through it, and answers that hold millions of numbers (`/tokenize` of an 8 MB text: ~2M ids,
/// their strings and offsets) use it directly: Foundation's JSONSerialization took ~5 s for that.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    var data: Data { Data(bytes) }

    /// Punctuation and literals: `{`, `,`, `null`, …
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func int(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)   // a small string: no allocation
    }

    /// Non-finite doubles are written as the strings "NaN", "Infinity", "-Infinity" (JSON has none);
    /// finite ones in Swift's shortest round-trip form, as JSONEncoder writes them.
    mutating func double(_ value: Double) {
        if value.isNaN { raw("\"NaN\"") }
        else if value.isInfinite { value > 0 ? raw("\"Infinity\"") : raw("\"-Infinity\"") }
        else { bytes.append(contentsOf: "\(value)".utf8) }
    }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    /// A value that is already JSON text (one line), copied as it is: an endpoint's answer inside a
    /// batch output line.
    mutating func json(_ text: Data) { bytes.append(contentsOf: text) }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`; every
    /// other byte of the (valid) UTF-8 copied as it is.
    mutating func string(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0 ..< 0x20:
                raw("\\u00")
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `[e0,e1,…]`, each element written by `element`.
    mutating func array<S: Sequence>(_ items: S, _ element: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            element(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `"name":` inside an object, after a comma unless it is the object's first member.
    mutating func key(_ name: String, first: inout Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
