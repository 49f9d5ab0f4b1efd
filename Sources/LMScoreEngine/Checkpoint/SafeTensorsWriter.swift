import Foundation

/// Writes tensors in the safetensors layout (sorted names, header padded to 8 bytes with spaces,
/// data packed in header order), converting FP32 values to the requested storage type.
struct SafeTensorsWriter {
    /// A tensor to write; `values` must stay valid until `write` returns.
    struct Tensor {
        let name: String
        let shape: [Int]
        let values: UnsafeBufferPointer<Float>
    }

    static func write(_ tensors: [Tensor], dtype: TensorDType, to url: URL) throws {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var offset = 0
        for tensor in sorted {
            let bytes = tensor.values.count * dtype.byteSize
            header[tensor.name] = ["dtype": dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: url)
        else { throw CheckpointError.cannotWrite(path: url.path, reason: "cannot create file") }
        defer { try? handle.close() }
        do {
            var length = UInt64(headerBytes.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: headerBytes)
            for tensor in sorted { try handle.write(contentsOf: encode(tensor.values, as: dtype)) }
        } catch {
            throw CheckpointError.cannotWrite(path: url.path, reason: error.localizedDescription)
        }
    }

    static func encode(_ values: UnsafeBufferPointer<Float>, as dtype: TensorDType) -> Data {
        switch dtype {
        case .f32:
            return Data(buffer: values)
        case .f16:
            let halves = values.map { Float16($0).bitPattern.littleEndian }
            return halves.withUnsafeBytes { Data($0) }
        case .bf16:
            let halves = values.map { bfloat16Bits($0).littleEndian }
            return halves.withUnsafeBytes { Data($0) }
        }
    }

    /// FP32 → BF16 with round-to-nearest-even (what torch's `.to(torch.bfloat16)` does).
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let roundingBias = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ roundingBias) >> 16)
    }
}
