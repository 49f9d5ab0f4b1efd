import Foundation

/// Writes a GGUF v3 file: metadata (typed as given), tensors with their raw bytes at the alignment.
/// For tests and small fixtures; what the values mean is the caller's.
public struct GGUFWriter: Sendable {
    /// A value with the GGUF type it is written as.
    public enum Typed: Sendable {
        case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool)
        case string(String), u64(UInt64), i64(Int64), f64(Double)
        /// Items of one type (the type code of the first item; an empty array is written as u8 items).
        case array([Typed])

        var typeCode: UInt32 {
            switch self {
            case .u8: 0
            case .i8: 1
            case .u16: 2
            case .i16: 3
            case .u32: 4
            case .i32: 5
            case .f32: 6
            case .bool: 7
            case .string: 8
            case .array: 9
            case .u64: 10
            case .i64: 11
            case .f64: 12
            }
        }
    }

    public var version: UInt32 = 3
    public var alignment = 32
    public var metadata: [(String, Typed)] = []
    public var tensors: [(name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8])] = []

    public init() {}

    public func data() -> Data {
        var out = Data("GGUF".utf8)
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func value(_ v: Typed) {
            switch v {
            case .u8(let x): put(x)
            case .i8(let x): put(x)
            case .u16(let x): put(x)
            case .i16(let x): put(x)
            case .u32(let x): put(x)
            case .i32(let x): put(x)
            case .f32(let x): put(x.bitPattern)
            case .bool(let x): put(UInt8(x ? 1 : 0))
            case .string(let x): string(x)
            case .u64(let x): put(x)
            case .i64(let x): put(x)
            case .f64(let x): put(x.bitPattern)
            case .array(let items):
                put(items.first?.typeCode ?? 0)
                put(UInt64(items.count))
                for item in items { value(item) }
            }
        }
        put(version)
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, v) in metadata {
            string(key)
            put(v.typeCode)
            value(v)
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset += (tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        for (tensor, at) in zip(tensors, offsets) {
            string(tensor.name)
            put(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { put(UInt64(d)) }
            put(tensor.type.code)
            put(UInt64(at))
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment))
        for tensor in tensors {
            out.append(contentsOf: tensor.bytes)
            out.append(contentsOf: [UInt8](repeating: 0, count: (alignment - tensor.bytes.count % alignment) % alignment))
        }
        return out
    }
}
