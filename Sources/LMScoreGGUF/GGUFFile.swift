import Foundation

/// A memory-mapped GGUF file (llama.cpp's format, versions 2 and 3): a header, metadata key/value
/// pairs, tensor descriptions, then the tensor data at `general.alignment` (default 32). Only the
/// container is read here; what the keys and tensors mean is the model's and the tokenizer's business.
///
///     "GGUF"  u32 version  u64 tensor_count  u64 kv_count
///     kv_count × { string key, u32 type, value }
///     tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
///     padding to the alignment, then the data (each tensor at data_start + offset)
///
/// Strings are a u64 byte count then UTF-8 bytes; everything is little-endian. Every count, length
/// and offset is checked against the file's size before use, so a truncated or hostile file is a
/// `GGUFError` naming what is wrong and where, never a crash or an allocation the file cannot back.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// The key/value pairs, in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensor]
    public let alignment: Int
    /// Where the data section starts (a multiple of `alignment`).
    public let dataStart: Int
    private let index: [String: Int]
    private let tensorIndex: [String: Int]
    private let base: UnsafeMutableRawPointer?
    private let length: Int

    public init(path: String) throws(GGUFError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        let length = Int(info.st_size)
        guard length >= 24 else { throw .malformed(path: path, offset: 0, reason: "\(length) bytes: too short for a GGUF header") }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw .unreadable(path: path, reason: "mmap: \(String(cString: strerror(errno)))")
        }
        self.base = mapped
        self.length = length
        do {
            var reader = Reader(base: UnsafeRawPointer(mapped), length: length, path: path)
            let parsed = try Self.parse(&reader)
            version = parsed.version
            metadata = parsed.metadata
            tensors = parsed.tensors
            alignment = parsed.alignment
            dataStart = parsed.dataStart
        } catch {
            munmap(mapped, length)
            throw error
        }
        index = Dictionary(metadata.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { first, _ in first })
        tensorIndex = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    deinit { if let base { munmap(base, length) } }

    /// The value of `key`, if present.
    public subscript(key: String) -> GGUFValue? { index[key].map { metadata[$0].value } }

    public func tensor(named name: String) -> GGUFTensor? { tensorIndex[name].map { tensors[$0] } }

    /// A tensor's bytes, inside the mapping (valid while this object lives).
    public func bytes(of tensor: GGUFTensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(base!) + dataStart + tensor.offset, count: tensor.byteCount)
    }

    /// How many tensors of each type, most first: `[("Q8_0", 145), ("F32", 50)]`.
    public var typeMix: [(type: String, tensors: Int)] {
        var counts: [String: Int] = [:]
        for tensor in tensors { counts[tensor.type.name, default: 0] += 1 }
        return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ($0.key, $0.value) }
    }

    // MARK: - Parsing

    /// Bounds-checked little-endian reads from the mapping.
    struct Reader {
        let base: UnsafeRawPointer
        let length: Int
        let path: String
        var offset = 0

        func fail(_ reason: String, at position: Int? = nil) -> GGUFError {
            .malformed(path: path, offset: position ?? offset, reason: reason)
        }

        mutating func bytes(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
            guard count >= 0, count <= length - offset else {
                throw fail("\(what()) needs \(count) bytes but the file ends \(length - offset) bytes on (truncated?)")
            }
            defer { offset += count }
            return UnsafeRawBufferPointer(start: base + offset, count: count)
        }

        mutating func scalar<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
            let raw = try bytes(MemoryLayout<T>.size, what())
            return T(littleEndian: raw.loadUnaligned(as: T.self))
        }

        mutating func count(_ what: @autoclosure () -> String, elementSize: Int) throws(GGUFError) -> Int {
            let at = offset
            let value = try scalar(UInt64.self, what())
            // Each element takes at least `elementSize` bytes, so more than the rest of the file is a lie.
            guard value <= UInt64((length - offset) / max(elementSize, 1)) else {
                throw fail("\(what()) is \(value), more than the rest of the file can hold (truncated?)", at: at)
            }
            return Int(value)
        }

        mutating func string(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
            let at = offset
            let n = try count("the length of \(what())", elementSize: 1)
            let raw = try bytes(n, what())
            guard let text = String(validating: raw, as: UTF8.self) else { throw fail("\(what()) is not UTF-8", at: at) }
            return text
        }

        mutating func value(type: UInt32, _ what: @autoclosure () -> String, depth: Int = 0) throws(GGUFError) -> GGUFValue {
            switch type {
            case 0: return .uint(UInt64(try scalar(UInt8.self, what())))
            case 1: return .int(Int64(try scalar(Int8.self, what())))
            case 2: return .uint(UInt64(try scalar(UInt16.self, what())))
            case 3: return .int(Int64(try scalar(Int16.self, what())))
            case 4: return .uint(UInt64(try scalar(UInt32.self, what())))
            case 5: return .int(Int64(try scalar(Int32.self, what())))
            // An f32 (a config's 1e-05, 10000.0) as the decimal it was written from: its shortest
            // representation, so a GGUF epsilon equals the config.json's double.
            case 6: return .float(Double("\(Float(bitPattern: try scalar(UInt32.self, what())))") ?? .nan)
            case 7:
                let byte = try scalar(UInt8.self, what())
                guard byte <= 1 else { throw fail("\(what()) is a bool stored as \(byte)", at: offset - 1) }
                return .bool(byte == 1)
            case 8: return .string(try string(what()))
            case 9:
                guard depth == 0 else { throw fail("\(what()) nests arrays, which GGUF files do not") }
                let itemType = try scalar(UInt32.self, "the item type of \(what())")
                let n = try count("the item count of \(what())", elementSize: Self.minimumSize(of: itemType))
                var items: [GGUFValue] = []
                items.reserveCapacity(n)
                for i in 0..<n { items.append(try value(type: itemType, "\(what())[\(i)]", depth: depth + 1)) }
                return .array(items)
            case 10: return .uint(try scalar(UInt64.self, what()))
            case 11: return .int(try scalar(Int64.self, what()))
            case 12: return .float(Double(bitPattern: try scalar(UInt64.self, what())))
            default: throw fail("\(what()) has value type \(type), which GGUF does not define", at: offset - 4)
            }
        }

        static func minimumSize(of type: UInt32) -> Int {
            switch type {
            case 0, 1, 7: 1
            case 2, 3: 2
            case 4, 5, 6: 4
            default: 8  // u64, i64, f64, a string's length, an array's header
            }
        }
    }

    private static func parse(_ r: inout Reader) throws(GGUFError) -> (version: UInt32, metadata: [(key: String, value: GGUFValue)],
                                                                       tensors: [GGUFTensor], alignment: Int, dataStart: Int) {
        let magic = try r.bytes(4, "the magic number")
        guard Array(magic) == Array("GGUF".utf8) else { throw r.fail("not a GGUF file (it starts \(Array(magic)))", at: 0) }
        let version = try r.scalar(UInt32.self, "the version")
        guard version == 2 || version == 3 else { throw r.fail("GGUF version \(version); lmscore reads versions 2 and 3", at: 4) }
        let tensorCount = try r.count("the tensor count", elementSize: 8 + 4 + 4 + 8)
        let pairCount = try r.count("the metadata count", elementSize: 8 + 4 + 1)

        var metadata: [(key: String, value: GGUFValue)] = []
        metadata.reserveCapacity(pairCount)
        for i in 0..<pairCount {
            let key = try r.string("metadata key \(i)")
            let type = try r.scalar(UInt32.self, "the type of \(key)")
            metadata.append((key, try r.value(type: type, key)))
        }
        var alignment = 32
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard let a = value.integer, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw r.fail("general.alignment is \(value), not a power of two up to 1 MiB")
            }
            alignment = a
        }

        var tensors: [GGUFTensor] = []
        tensors.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try r.string("tensor name \(i)")
            let dimensionCount = try r.scalar(UInt32.self, "the dimension count of \(name)")
            guard dimensionCount >= 1 && dimensionCount <= 4 else {
                throw r.fail("tensor \(name) has \(dimensionCount) dimensions; GGUF allows 1 to 4", at: r.offset - 4)
            }
            var dimensions: [Int] = []
            for d in 0..<Int(dimensionCount) {
                let value = try r.scalar(UInt64.self, "dimension \(d) of \(name)")
                guard value <= 1 << 40 else { throw r.fail("dimension \(d) of \(name) is \(value)", at: r.offset - 8) }
                dimensions.append(Int(value))
            }
            let typeCode = try r.scalar(UInt32.self, "the type of \(name)")
            let offset = try r.scalar(UInt64.self, "the offset of \(name)")
            let type = GGMLType(code: typeCode)
            let elements = dimensions.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            guard let byteCount = type.byteCount(elements: elements) else {
                throw r.fail("tensor \(name): \(elements) elements of \(type.name) do not fill whole blocks of \(type.blockSize ?? 0)")
            }
            guard offset % UInt64(alignment) == 0 else {
                throw r.fail("tensor \(name) starts at data offset \(offset), not a multiple of the alignment \(alignment)")
            }
            tensors.append(GGUFTensor(name: name, dimensions: dimensions, type: type, offset: Int(clamping: offset), byteCount: byteCount))
        }
        let dataStart = (r.offset + alignment - 1) / alignment * alignment
        for tensor in tensors {
            guard tensor.byteCount != Int.max, tensor.offset <= r.length - dataStart,
                  tensor.byteCount <= r.length - dataStart - tensor.offset else {
                throw r.fail("tensor \(tensor.name) (\(tensor.type.name), \(tensor.dimensions)) ends past the end of the file "
                             + "(\(r.length) bytes; truncated download?)", at: dataStart + tensor.offset)
            }
        }
        return (version, metadata, tensors, alignment, dataStart)
    }
}

/// One tensor of a GGUF file. `dimensions` are GGUF's `ne`, fastest-varying first: a weight that
/// transformers holds as [out, in] is stored with dimensions [in, out].
public struct GGUFTensor: Sendable, Equatable {
    public let name: String
    public let dimensions: [Int]
    public let type: GGMLType
    /// Bytes after the data section's start.
    public let offset: Int
    public let byteCount: Int
}

/// A metadata value.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var integer: Int? {
        switch self {
        case .uint(let v): Int(exactly: v)
        case .int(let v): Int(exactly: v)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let v): v
        case .uint(let v): Double(v)
        case .int(let v): Double(v)
        default: nil
        }
    }

    public var string: String? { if case .string(let v) = self { v } else { nil } }
    public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var array: [GGUFValue]? { if case .array(let v) = self { v } else { nil } }

    public var description: String {
        switch self {
        case .uint(let v): "\(v)"
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        case .array(let v): "[\(v.count) items]"
        }
    }
}

/// ggml's tensor types: the ones lmscore may meet, with their block layout (elements per block,
/// bytes per block); any other code is kept by number and named in errors.
public struct GGMLType: Sendable, Equatable, Hashable {
    public let code: UInt32

    public init(code: UInt32) { self.code = code }

    public static let f32 = GGMLType(code: 0)
    public static let f16 = GGMLType(code: 1)
    public static let q8_0 = GGMLType(code: 8)
    public static let bf16 = GGMLType(code: 30)

    /// (name, elements per block, bytes per block) by ggml's type code.
    private static let known: [UInt32: (String, Int, Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
        12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
        24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 30: ("BF16", 1, 2),
    ]

    public var name: String { Self.known[code]?.0 ?? "type \(code)" }
    public var blockSize: Int? { Self.known[code]?.1 }

    /// Bytes for `elements` values; nil for a count that is not whole blocks. An unknown type's size
    /// is unknown: 0, so the file still opens and only a use of the tensor is refused, naming its type.
    func byteCount(elements: Int) -> Int? {
        guard let (_, block, bytes) = Self.known[code] else { return 0 }
        guard elements % block == 0 else { return nil }
        let (product, overflow) = (elements / block).multipliedReportingOverflow(by: bytes)
        return overflow ? Int.max : product
    }

}

public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, offset: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .malformed(let path, let offset, let reason): "\(path): not a valid GGUF file at byte \(offset): \(reason)"
        }
    }
}
