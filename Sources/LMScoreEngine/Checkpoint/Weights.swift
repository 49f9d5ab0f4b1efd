import CKernels
import Foundation

/// How a weight matrix's elements are stored in memory: one value per element (F32, F16, BF16), or
/// llama.cpp's Q8_0 (blocks of 32 int8 values and an FP16 scale, 34 bytes; GGUF files).
enum ElementType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", q8_0 = "Q8_0"

    /// Bytes per element of the one-value-per-element types.
    var byteCount: Int {
        precondition(self != .q8_0, "Q8_0 is stored in blocks: use rowBytes")
        return self == .f32 ? 4 : 2
    }

    /// Bytes of a row of `columns` elements.
    func rowBytes(_ columns: Int) -> Int {
        self == .q8_0 ? columns / Int(LMK_Q8_0_BLOCK) * MemoryLayout<lmk_block_q8_0>.size : columns * byteCount
    }

    /// The alignment the kernels need of the storage.
    var alignment: Int { self == .f32 ? 4 : 2 }

    /// `value` rounded to nearest (even) in this type, as FP32 (the one-value-per-element types).
    func rounded(_ value: Float) -> Float {
        switch self {
        case .f32: value
        case .f16: Float(Float16(value))
        case .bf16:
            // The high half of the FP32 bits, rounded to nearest even on the low half.
            Float(bitPattern: (value.bitPattern &+ 0x7fff &+ ((value.bitPattern >> 16) & 1)) & 0xffff_0000)
        case .q8_0: value   // Q8_0 weights multiply in FP32 (llama.cpp's activations are FP32 too)
        }
    }

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

    var rowBytes: Int { elementType.rowBytes(columns) }

    /// Rows `range` as a matrix of their own (a view, no copy).
    func rowSlice(_ range: Range<Int>) -> WeightMatrix {
        WeightMatrix(base: base + range.lowerBound * rowBytes, elementType: elementType, rows: range.count, columns: columns)
    }

    /// Row `row` as FP32 into `out[0..<columns]` (Q8_0: each value d · q, as llama.cpp dequantizes).
    func copyRow(_ row: Int, into out: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let start = base + row * rowBytes
        switch elementType {
        case .f32: out.update(from: start.assumingMemoryBound(to: Float.self), count: columns)
        case .q8_0:
            let blocks = start.assumingMemoryBound(to: lmk_block_q8_0.self)
            for b in 0..<columns / Int(LMK_Q8_0_BLOCK) {
                let d = Float(Float16(bitPattern: blocks[b].d))
                withUnsafeBytes(of: blocks[b].qs) { qs in
                    for t in 0..<Int(LMK_Q8_0_BLOCK) { out[b * Int(LMK_Q8_0_BLOCK) + t] = Float(Int8(bitPattern: qs[t])) * d }
                }
            }
        default: compute.convert(start, elementType: elementType, into: out, count: columns)
        }
    }
}

/// Owns the memory behind every `WeightTensor`: the mapped files (safetensors, GGUF), the FP32 copies of
/// 16-bit vectors, and copies of the rare matrix a file stores misaligned (or, for GGUF, reorders).
final class WeightStorage: @unchecked Sendable {
    private(set) var files: [SafeTensorsFile] = []
    /// Other owners of mapped memory (a `GGUFFile`).
    private var kept: [AnyObject] = []
    private var copies: [UnsafeMutableRawBufferPointer] = []
    private(set) var mappedBytes = 0
    private(set) var copiedBytes = 0
    /// Bytes of mapped matrices handed back after quantizing them (`release`).
    private(set) var releasedBytes = 0

    func keep(_ file: SafeTensorsFile) { files.append(file) }
    func keep(_ owner: AnyObject) { kept.append(owner) }

    /// A buffer this storage owns, 64-byte aligned, counted as copied.
    func copy(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        copies.append(raw)
        copiedBytes += byteCount
        return raw
    }

    /// Returns a tensor's values as FP32, without a copy when it is stored as aligned F32.
    func floats(of entry: TensorEntry, in file: SafeTensorsFile) throws -> UnsafePointer<Float> {
        guard let dtype = TensorDType(rawValue: entry.dtype) else {
            throw CheckpointError.unsupportedDType(path: file.path, tensor: entry.name, dtype: entry.dtype)
        }
        return floats(file.bytes(of: entry), dtype: dtype, count: entry.shape.reduce(1, *))
    }

    /// `count` values stored as `dtype` at `bytes`, as FP32: in place when aligned F32, else a copy.
    func floats(_ bytes: UnsafeRawBufferPointer, dtype: TensorDType, count: Int) -> UnsafePointer<Float> {
        if dtype == .f32, let start = bytes.baseAddress, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
            mappedBytes += bytes.count
            return start.assumingMemoryBound(to: Float.self)
        }
        let copy = self.copy(byteCount: count * 4).bindMemory(to: Float.self)
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
        return mapped(file.bytes(of: entry), elementType: ElementType(dtype), rows: entry.shape[0], columns: entry.shape[1])
    }

    /// The matrix stored at `bytes`, in place unless misaligned for its element type.
    func mapped(_ bytes: UnsafeRawBufferPointer, elementType: ElementType, rows: Int, columns: Int) -> WeightMatrix {
        var base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: elementType.alignment)!
        if Int(bitPattern: base) % elementType.alignment == 0 {
            mappedBytes += bytes.count
        } else {
            let copy = self.copy(byteCount: bytes.count)
            copy.copyMemory(from: bytes)
            base = UnsafeRawPointer(copy.baseAddress!)
        }
        return WeightMatrix(base: base, elementType: elementType, rows: rows, columns: columns)
    }

    /// Hands the pages of a mapped matrix no one reads any more (it was quantized into a copy) back to
    /// the kernel: they leave the resident set; the file's pages stay in the page cache. A matrix this
    /// storage copied is left alone (its copy is small next to the mapping, and freeing one is not worth
    /// tracking).
    func release(_ matrix: WeightMatrix) {
        let start = Int(bitPattern: matrix.base), end = start + matrix.rows * matrix.rowBytes
        let page = Int(getpagesize())
        let first = (start + page - 1) / page * page, last = end / page * page
        guard last > first, !copies.contains(where: { Int(bitPattern: $0.baseAddress) == start }) else { return }
        madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_DONTNEED)
        releasedBytes += last - first
    }

    deinit { for copy in copies { copy.deallocate() } }
}

/// A norm's parameters: the gain, and the bias LayerNorm has (nil for RMSNorm).
struct NormWeights: @unchecked Sendable {
    let gain: UnsafePointer<Float>   // [width]
    let bias: UnsafePointer<Float>?  // [width]
}

/// One linear layer: y = x · Wᵀ + b for `nn.Linear`'s [out, in], y = x · W + b for GPT-2's Conv1D [in, out].
struct Linear: @unchecked Sendable {
    let weight: WeightMatrix
    let bias: UnsafePointer<Float>?  // [out]
    /// The matrix is stored [out, in] (`nn.Linear`): the product reads it transposed.
    let storedOutIn: Bool

    var outputs: Int { storedOutIn ? weight.rows : weight.columns }
    var inputs: Int { storedOutIn ? weight.columns : weight.rows }
}

/// How q, k and v sit in the projection's output row, so attention and rotary can find head h's.
enum QKVLayout: Sendable {
    /// [q heads | k heads | v heads]; query head h uses key/value head h / (heads / kvHeads).
    case grouped
    /// GPT-NeoX's fused matrix, per head [q | k | v] (its rows viewed as [heads, 3, head_dim]).
    case interleavedPerHead
}

/// One transformer block's parameters; which of the optional ones exist is the layer's `LayerSpec`.
struct LayerWeights: @unchecked Sendable {
    let attentionNorm: NormWeights
    /// Parts whose outputs are concatenated into the qkv row (Llama: q, k, v; GPT-2, NeoX, Phi-3: one fused).
    let qkv: [Linear]
    let queryNorm: UnsafePointer<Float>?  // [head_dim] (q/k norm)
    let keyNorm: UnsafePointer<Float>?    // [head_dim] (q/k norm)
    let attentionOutput: Linear           // [C, nHead·head_dim]
    let postAttentionNorm: NormWeights?   // Gemma 2/3
    let mlpNorm: NormWeights
    /// Parts concatenated into the MLP's hidden row: plain [up] → [T, I]; gated [gate, up] → [T, 2I]
    /// (or one fused [gate; up] matrix, Phi-3).
    let mlpIn: [Linear]
    let mlpOut: Linear                    // [C, I]
    let postMLPNorm: NormWeights?         // Gemma 2/3

    init(attentionNorm: NormWeights, qkv: [Linear], queryNorm: UnsafePointer<Float>? = nil, keyNorm: UnsafePointer<Float>? = nil,
         attentionOutput: Linear, postAttentionNorm: NormWeights? = nil, mlpNorm: NormWeights, mlpIn: [Linear], mlpOut: Linear,
         postMLPNorm: NormWeights? = nil) {
        self.attentionNorm = attentionNorm
        self.qkv = qkv
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
        self.attentionOutput = attentionOutput
        self.postAttentionNorm = postAttentionNorm
        self.mlpNorm = mlpNorm
        self.mlpIn = mlpIn
        self.mlpOut = mlpOut
        self.postMLPNorm = postMLPNorm
    }
}

/// All parameters of a decoder: the matrices as `WeightMatrix`, the vectors as FP32.
struct DecoderWeights: @unchecked Sendable {
    let tokenEmbedding: WeightMatrix               // [V, C]
    let positionEmbedding: UnsafePointer<Float>?   // [P, C], learned positions only
    let qkvLayout: QKVLayout
    let layers: [LayerWeights]
    let finalNorm: NormWeights
    /// The LM head [V, C]: the token embedding itself when tied.
    let lmHead: WeightMatrix
    /// What keeps the memory behind the pointers alive (the checkpoint's `WeightStorage`).
    let owner: AnyObject
}

extension DecoderWeights {
    /// The family's tensors, read from `source`.
    init(config: ModelConfig, source: some TensorSource) throws {
        self = try config.family.weights(config, source)
    }
}

/// What a tensor is for: the random writer initialises by role, the loader ignores it.
enum TensorRole {
    case embedding, positionTable, projection, residualProjection, gain, bias
    /// A gain stored as w of (1 + w) (Gemma): drawn as 0, the unit gain.
    case offsetGain
}

/// Where a family's mapping gets its tensors by name: a checkpoint's files (`CheckpointTensors`), or
/// fresh random values (`RandomTensors`, for `make-checkpoint`). Shapes are checked by the source.
protocol TensorSource {
    func matrix(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> WeightMatrix
    func vector(_ name: String, _ shape: [Int], _ role: TensorRole) throws -> UnsafePointer<Float>
    /// Whether a tensor of this name exists (for names that changed between versions).
    func contains(_ name: String) -> Bool
    /// GPT-2's Conv1D layer `prefix` (`.weight` [in, out], `.bias` [out]); a source may store the
    /// matrix [out, in] instead (GGUF). Default: `TensorSource+Conv1D.swift`.
    func conv1D(_ prefix: String, in: Int, out: Int, role: TensorRole) throws -> Linear
    /// What owns the memory behind the pointers.
    var owner: AnyObject { get }
}

extension TensorSource {
    /// A linear layer stored [out, in] (`nn.Linear`), with `bias` when the config says it has one.
    func linear(_ prefix: String, out: Int, in: Int, bias: Bool, role: TensorRole = .projection) throws -> Linear {
        Linear(weight: try matrix(prefix + ".weight", [out, `in`], role),
               bias: bias ? try vector(prefix + ".bias", [out], .bias) : nil, storedOutIn: true)
    }

    /// A norm's gain, and its bias for LayerNorm.
    func norm(_ prefix: String, width: Int, _ norm: NormSpec) throws -> NormWeights {
        NormWeights(gain: try vector(prefix + ".weight", [width], norm.gainOffset == 0 ? .gain : .offsetGain),
                    bias: norm.kind == .layerNorm ? try vector(prefix + ".bias", [width], .bias) : nil)
    }
}
