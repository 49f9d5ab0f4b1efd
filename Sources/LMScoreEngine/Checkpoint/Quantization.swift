import CKernels
import Foundation

/// Weights quantized when a checkpoint loads (`--quantize q8_0`): every matrix a product reads —
/// attention and MLP projections, and the LM head unless `lmHead` is false — becomes Q8_0 with
/// llama.cpp's reference rounding (`quantize_row_q8_0_ref`: d = max|x|/127, q = round(x · (1/d)),
/// halves away from zero, d stored as FP16), so the products run on the W8A8 kernels. Vectors (norms,
/// biases, learned positions) stay FP32. A tied token embedding is the LM head: quantized with it, it
/// also serves embedding lookups dequantized (as llama.cpp's Q8_0 `token_embd` does).
public enum Quantization: Sendable, Equatable {
    case q8_0(lmHead: Bool)

    /// `q8_0`, or nil for `none`; anything else is refused by the caller with the list.
    public init?(name: String, lmHead: Bool) {
        switch name {
        case "q8_0": self = .q8_0(lmHead: lmHead)
        default: return nil
        }
    }

    public static let names = ["none", "q8_0"]

    var quantizesLMHead: Bool {
        switch self { case .q8_0(let lmHead): lmHead }
    }
}

extension DecoderWeights {
    /// These weights with their matrices quantized as `quantization` says, the copies kept in `storage`.
    /// Each source matrix's pages are handed back to the kernel once copied (`WeightStorage.release`),
    /// so resident memory holds the quantized copy, not both.
    func quantized(_ quantization: Quantization, storage: WeightStorage) throws -> DecoderWeights {
        func linear(_ l: Linear) -> Linear {
            Linear(weight: storage.quantizedQ8(l.weight, transposed: !l.storedOutIn), bias: l.bias, storedOutIn: true)
        }
        let layers = layers.map { layer in
            LayerWeights(attentionNorm: layer.attentionNorm, qkv: layer.qkv.map(linear), queryNorm: layer.queryNorm,
                         keyNorm: layer.keyNorm, attentionOutput: linear(layer.attentionOutput),
                         postAttentionNorm: layer.postAttentionNorm, mlpNorm: layer.mlpNorm, mlpIn: layer.mlpIn.map(linear),
                         mlpOut: linear(layer.mlpOut), postMLPNorm: layer.postMLPNorm)
        }
        var tokenEmbedding = tokenEmbedding, lmHead = lmHead
        if quantization.quantizesLMHead {
            let tied = lmHead.base == tokenEmbedding.base
            lmHead = storage.quantizedQ8(lmHead, transposed: false)
            if tied { tokenEmbedding = lmHead }
        }
        return DecoderWeights(tokenEmbedding: tokenEmbedding, positionEmbedding: positionEmbedding, qkvLayout: qkvLayout,
                              layers: layers, finalNorm: finalNorm, lmHead: lmHead, owner: owner)
    }
}

extension WeightStorage {
    /// `matrix` as Q8_0 rows [out, in] (transposing GPT-2's Conv1D [in, out] first), in a copy this
    /// storage owns. A Q8_0 matrix is returned as it is; `in` must be a multiple of 32.
    func quantizedQ8(_ matrix: WeightMatrix, transposed: Bool) -> WeightMatrix {
        if matrix.elementType == .q8_0 { return matrix }
        let (rows, columns) = transposed ? (matrix.columns, matrix.rows) : (matrix.rows, matrix.columns)
        let blocks = columns / Int(LMK_Q8_0_BLOCK)
        let out = copy(byteCount: rows * blocks * MemoryLayout<lmk_block_q8_0>.size).bindMemory(to: lmk_block_q8_0.self)
        let compute = ComputeContext(path: .portable, threads: 1)   // conversions to FP32 are exact on every path
        let row = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, columns, 1))
        defer { row.deallocate() }
        if transposed {
            // The [in, out] matrix as FP32 [out, in], each stored row read once.
            let whole = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * columns, 1))
            defer { whole.deallocate() }
            for i in 0..<columns {
                matrix.copyRow(i, into: row, compute: compute)   // input i: one value per output
                for j in 0..<rows { whole[j * columns + i] = row[j] }
            }
            for j in 0..<rows { lmk_quantize_q8_0_reference(whole + j * columns, columns, out.baseAddress! + j * blocks) }
        } else {
            for r in 0..<rows {
                matrix.copyRow(r, into: row, compute: compute)
                lmk_quantize_q8_0_reference(row, columns, out.baseAddress! + r * blocks)
            }
        }
        release(matrix)
        return WeightMatrix(base: UnsafeRawPointer(out.baseAddress!), elementType: .q8_0, rows: rows, columns: columns)
    }
}

extension DecoderModel {
    /// This model with its weights quantized (`Quantization`); refused when a product's input width is not
    /// a multiple of Q8_0's 32-value block.
    func quantized(_ quantization: Quantization) throws -> DecoderModel {
        guard let storage = weights.owner as? WeightStorage else { preconditionFailure("checkpoint weights are owned by a WeightStorage") }
        let linears = weights.layers.flatMap { $0.qkv + [$0.attentionOutput] + $0.mlpIn + [$0.mlpOut] }
        for (index, linear) in linears.enumerated() where linear.inputs % Int(LMK_Q8_0_BLOCK) != 0 {
            throw CheckpointError.unsupportedModel(path: summary.directory, reason: """
                --quantize q8_0: a product's input width must be a multiple of 32 (matrix \(index) of the layers has \(linear.inputs))
                """)
        }
        let before = storage.copiedBytes
        let weights = try weights.quantized(quantization, storage: storage)
        var summary = summary
        let head = quantization.quantizesLMHead ? "LM head included" : "LM head as stored"
        summary.quantization = "q8_0: \(linears.count + (quantization.quantizesLMHead ? 1 : 0)) matrices, \(head) (\(storage.copiedBytes - before) bytes)"
        summary.copiedBytes = storage.copiedBytes
        summary.mappedBytes -= storage.releasedBytes
        return DecoderModel(config: config, weights: weights, summary: summary)
    }
}
