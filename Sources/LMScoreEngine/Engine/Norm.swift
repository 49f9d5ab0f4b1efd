/// The norms, on the context's kernels (`lmk_elementwise`: statistics in Double, rows split over the
/// threads). Which norm, its ε and gain offset are the model's `NormSpec`.

/// out[t] = norm(x[t]) for `rows` rows of `width` values.
func normalize(_ x: UnsafePointer<Float>, _ weights: NormWeights, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int,
               _ norm: NormSpec, compute: ComputeContext) {
    let ops = compute.ops
    compute.forEachSlice(rows, granule: 16) { slice in
        let offset = slice.lowerBound * width
        switch norm.kind {
        case .layerNorm:
            // (x − mean) / √(var + ε) · gain + bias
            ops.layer_norm(x + offset, out + offset, slice.count, width, weights.gain, weights.bias!, norm.epsilon)
        case .rmsNorm:
            // x / √(mean(x²) + ε) · (offset + gain)
            ops.rms_norm(x + offset, out + offset, slice.count, width, width, weights.gain, norm.gainOffset, norm.epsilon)
        }
    }
}

/// The q/k norm (Qwen3, Gemma 3): RMSNorm over each query head with `queryGain` and each key head with
/// `keyGain` ([head_dim] each), in place in the qkv rows, before the rotation.
func normalizeHeads(
    _ qkv: UnsafeMutablePointer<Float>, heads: AttentionHeads, rows: Int, queryGain: UnsafePointer<Float>,
    keyGain: UnsafePointer<Float>, _ norm: NormSpec, compute: ComputeContext
) {
    let ops = compute.ops
    compute.forEachSlice(rows, granule: 16) { slice in
        for t in slice {
            let row = qkv + t * heads.rowWidth
            for h in 0..<heads.count {
                let q = row + heads.queryColumn(h)
                ops.rms_norm(q, q, 1, heads.size, heads.size, queryGain, norm.gainOffset, norm.epsilon)
            }
            for h in 0..<heads.keyValueCount {
                let k = row + heads.keyColumn(kvHead: h)
                ops.rms_norm(k, k, 1, heads.size, heads.size, keyGain, norm.gainOffset, norm.epsilon)
            }
        }
    }
}

/// x[t][0..<width] += bias for every row, rows `stride` apart (default: width).
func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int? = nil, bias: UnsafePointer<Float>,
             compute: ComputeContext) {
    let ops = compute.ops, stride = stride ?? width
    compute.forEachSlice(rows, granule: 16) { slice in
        ops.add_rows(x + slice.lowerBound * stride, slice.count, width, stride, bias)
    }
}

/// x[i] += y[i] over `rows` rows of `width` (a sub-layer's output joining the residual stream).
func addResidual(_ y: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, width: Int, compute: ComputeContext) {
    let ops = compute.ops
    compute.forEachSlice(rows, granule: 16) { slice in
        ops.add(x + slice.lowerBound * width, y + slice.lowerBound * width, slice.count * width)
    }
}
