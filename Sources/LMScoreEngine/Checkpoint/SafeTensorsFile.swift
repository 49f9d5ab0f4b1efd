import Foundation

/// The storage types lmscore reads. Other safetensors dtypes may sit in a file (old GPT-2 checkpoints
/// keep a BOOL/U8 causal mask) as long as lmscore never needs them.
public enum TensorDType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// One tensor's entry in a safetensors header.
struct TensorEntry {
    let name: String
    let dtype: String
    let shape: [Int]
    /// Byte range inside the file's data section.
    let begin: Int
    let end: Int
}

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the raw tensor bytes.
/// Mapping (rather than reading) lets F32 weights be used in place, with no copy.
final class SafeTensorsFile: @unchecked Sendable {
    let path: String
    let entries: [String: TensorEntry]
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let dataStart: Int

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw CheckpointError.missingFile(path) }
            throw CheckpointError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        let length = Int(info.st_size)
        guard length >= 8 else { throw CheckpointError.badHeader(path: path, reason: "file is \(length) bytes, too short") }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw CheckpointError.unreadableFile(path: path, reason: "mmap: \(String(cString: strerror(errno)))")
        }
        self.base = mapped
        self.length = length
        do {
            let (entries, dataStart) = try Self.parseHeader(base: UnsafeRawPointer(mapped), length: length, path: path)
            self.entries = entries
            self.dataStart = dataStart
        } catch {
            munmap(mapped, length)
            throw error
        }
    }

    deinit { munmap(base, length) }

    /// Raw bytes of a tensor, inside the mapping (valid while this object lives).
    func bytes(of entry: TensorEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(base) + dataStart + entry.begin, count: entry.end - entry.begin)
    }

    private static func parseHeader(base: UnsafeRawPointer, length: Int, path: String) throws -> ([String: TensorEntry], Int) {
        func bad(_ reason: String) -> CheckpointError { .badHeader(path: path, reason: reason) }
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(length - 8) else {
            throw bad("header claims \(headerLength) bytes but the file has \(length - 8) after the length field")
        }
        guard headerLength <= 100_000_000 else { throw bad("header of \(headerLength) bytes is implausibly large") }
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let json = object as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = length - dataStart
        var entries: [String: TensorEntry] = [:]
        // In name order, so a broken file always reports the same tensor.
        for (name, value) in json.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            guard let fields = value as? [String: Any],
                  let dtype = fields["dtype"] as? String,
                  let shapeValues = fields["shape"] as? [NSNumber],
                  let offsets = fields["data_offsets"] as? [NSNumber], offsets.count == 2
            else { throw bad("entry for tensor \(name) lacks dtype, shape or data_offsets") }
            let shape = shapeValues.map(\.intValue)
            let begin = offsets[0].intValue
            let end = offsets[1].intValue
            guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, end >= begin else {
                throw bad("tensor \(name) has a negative dimension or reversed data_offsets")
            }
            guard end <= dataLength else {
                throw CheckpointError.truncated(
                    path: path, tensor: name,
                    reason: "data ends at byte \(end) but the file holds \(dataLength) bytes of data (truncated download?)")
            }
            if let known = TensorDType(rawValue: dtype) {
                let count = shape.reduce(1, *)
                guard end - begin == count * known.byteSize else {
                    throw bad("tensor \(name): \(end - begin) bytes for shape \(shape) of \(dtype)")
                }
            }
            entries[name] = TensorEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        return (entries, dataStart)
    }
}
