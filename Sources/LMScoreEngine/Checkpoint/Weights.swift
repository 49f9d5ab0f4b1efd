import Foundation

/// A read-only FP32 tensor: a view into a memory-mapped F32 file, or an upcast copy of F16/BF16.
struct WeightTensor: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    let shape: [Int]
}

/// Owns the memory behind every `WeightTensor`: the mapped files and the upcast copies.
final class WeightStorage: @unchecked Sendable {
    private(set) var files: [SafeTensorsFile] = []
    private var copies: [UnsafeMutableBufferPointer<Float>] = []
    private(set) var mappedBytes = 0
    private(set) var copiedBytes = 0

    func keep(_ file: SafeTensorsFile) { files.append(file) }

    /// Returns a tensor's values as FP32, without a copy when it is stored as aligned F32.
    func floats(of entry: TensorEntry, in file: SafeTensorsFile) throws -> UnsafePointer<Float> {
        guard let dtype = TensorDType(rawValue: entry.dtype) else {
            throw CheckpointError.unsupportedDType(path: file.path, tensor: entry.name, dtype: entry.dtype)
        }
        let bytes = file.bytes(of: entry)
        let count = entry.shape.reduce(1, *)
        if dtype == .f32, let start = bytes.baseAddress, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
            mappedBytes += bytes.count
            return start.assumingMemoryBound(to: Float.self)
        }
        let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        copies.append(copy)
        copiedBytes += count * 4
        switch dtype {
        case .f32:
            for i in 0..<count { copy[i] = bytes.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count {
                copy[i] = Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<count {
                let high = UInt32(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                copy[i] = Float(bitPattern: high << 16)
            }
        }
        return UnsafePointer(copy.baseAddress!)
    }

    deinit { for copy in copies { copy.deallocate() } }
}

/// One transformer block's parameters. GPT-2 stores its linear layers as Conv1D, i.e. [in, out].
struct LayerWeights: @unchecked Sendable {
    let ln1Gain: UnsafePointer<Float>      // [C]
    let ln1Bias: UnsafePointer<Float>      // [C]
    let qkvWeight: UnsafePointer<Float>    // [C, 3C]
    let qkvBias: UnsafePointer<Float>      // [3C]
    let attnProjWeight: UnsafePointer<Float> // [C, C]
    let attnProjBias: UnsafePointer<Float> // [C]
    let ln2Gain: UnsafePointer<Float>      // [C]
    let ln2Bias: UnsafePointer<Float>      // [C]
    let fcWeight: UnsafePointer<Float>     // [C, I]
    let fcBias: UnsafePointer<Float>       // [I]
    let mlpProjWeight: UnsafePointer<Float> // [I, C]
    let mlpProjBias: UnsafePointer<Float>  // [C]
}

/// All parameters of a GPT-2 LM, as FP32.
struct GPT2Weights: @unchecked Sendable {
    let tokenEmbedding: UnsafePointer<Float>    // wte [V, C]
    let positionEmbedding: UnsafePointer<Float> // wpe [P, C]
    let layers: [LayerWeights]
    let lnFGain: UnsafePointer<Float>           // [C]
    let lnFBias: UnsafePointer<Float>           // [C]
    /// The LM head [V, C]: `wte` itself when embeddings are tied.
    let lmHead: UnsafePointer<Float>
    let storage: WeightStorage
}
