import Foundation

/// How a weight matrix's elements are stored in memory.
enum ElementType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    var byteCount: Int { self == .f32 ? 4 : 2 }

    init(_ dtype: TensorDType) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        }
    }
}

/// A weight matrix as it sits in memory, row-major [rows, columns]: GPT-2's Conv1D stores [in, out],
/// `nn.Linear` and embeddings [out, in]. The forward pass reads it only through `matmul` (products)
/// and `copyRow` (embedding lookups), so how the elements are stored is the kernels' business.
struct WeightMatrix: @unchecked Sendable {
    let base: UnsafeRawPointer
    let elementType: ElementType
    let rows: Int
    let columns: Int

    var bytesPerElement: Int { elementType.byteCount }

    /// Rows `range` as a matrix of their own (a view, no copy).
    func rowSlice(_ range: Range<Int>) -> WeightMatrix {
        WeightMatrix(base: base + range.lowerBound * columns * bytesPerElement, elementType: elementType,
                     rows: range.count, columns: columns)
    }

    /// Row `row` as FP32 into `out[0..<columns]`.
    func copyRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        let start = base + row * columns * bytesPerElement
        if elementType == .f32 {
            out.update(from: start.assumingMemoryBound(to: Float.self), count: columns)
        } else {
            KernelPath.current.convert(start, elementType: elementType, into: out, count: columns)
        }
    }
}

/// Owns the memory behind every `WeightTensor`: the mapped files, the FP32 copies of 16-bit vectors,
/// and copies of the rare matrix a file stores misaligned.
final class WeightStorage: @unchecked Sendable {
    private(set) var files: [SafeTensorsFile] = []
    private var copies: [UnsafeMutableRawBufferPointer] = []
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
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        copies.append(raw)
        let copy = raw.bindMemory(to: Float.self)
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

    /// A 2-D tensor as a `WeightMatrix` in its stored element type (F32, F16 or BF16: the kernels
    /// convert 16-bit values in registers), mapped in place; copied, still in its own type, only when
    /// the file places it misaligned for that type.
    func matrix(of entry: TensorEntry, in file: SafeTensorsFile) throws -> WeightMatrix {
        precondition(entry.shape.count == 2, "a weight matrix has two dimensions")
        guard let dtype = TensorDType(rawValue: entry.dtype) else {
            throw CheckpointError.unsupportedDType(path: file.path, tensor: entry.name, dtype: entry.dtype)
        }
        let elementType = ElementType(dtype)
        let bytes = file.bytes(of: entry)
        var base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: elementType.byteCount)!
        if Int(bitPattern: base) % elementType.byteCount == 0 {
            mappedBytes += bytes.count
        } else {
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
            copy.copyMemory(from: bytes)
            copies.append(copy)
            copiedBytes += bytes.count
            base = UnsafeRawPointer(copy.baseAddress!)
        }
        return WeightMatrix(base: base, elementType: elementType, rows: entry.shape[0], columns: entry.shape[1])
    }

    deinit { for copy in copies { copy.deallocate() } }
}

/// One transformer block's parameters. GPT-2 stores its linear layers as Conv1D, i.e. [in, out].
struct LayerWeights: @unchecked Sendable {
    let ln1Gain: UnsafePointer<Float>      // [C]
    let ln1Bias: UnsafePointer<Float>      // [C]
    let qkvWeight: WeightMatrix    // [C, 3C]
    let qkvBias: UnsafePointer<Float>      // [3C]
    let attnProjWeight: WeightMatrix // [C, C]
    let attnProjBias: UnsafePointer<Float> // [C]
    let ln2Gain: UnsafePointer<Float>      // [C]
    let ln2Bias: UnsafePointer<Float>      // [C]
    let fcWeight: WeightMatrix     // [C, I]
    let fcBias: UnsafePointer<Float>       // [I]
    let mlpProjWeight: WeightMatrix // [I, C]
    let mlpProjBias: UnsafePointer<Float>  // [C]
}

/// All parameters of a GPT-2 LM: the matrices as `WeightMatrix`, the vectors as FP32.
struct GPT2Weights: @unchecked Sendable {
    let tokenEmbedding: WeightMatrix             // wte [V, C]
    let positionEmbedding: UnsafePointer<Float> // wpe [P, C]
    let layers: [LayerWeights]
    let lnFGain: UnsafePointer<Float>           // [C]
    let lnFBias: UnsafePointer<Float>           // [C]
    /// The LM head [V, C]: `wte` itself when embeddings are tied.
    let lmHead: WeightMatrix
    let storage: WeightStorage
}
