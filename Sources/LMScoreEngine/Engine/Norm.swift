/// LayerNorm: out[t] = (x[t] − mean) / sqrt(var + eps) · gain + bias, per row of `width` values.
/// Mean and variance are accumulated in Double: a 768-wide row of Float sums loses bits otherwise.
func layerNorm(
    _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int,
    gain: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Double
) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 16)
    parallelFor(slices.count) { i in
        for t in slices[i] { layerNormRow(x + t * width, into: out + t * width, width: width, gain: gain, bias: bias, epsilon: epsilon) }
    }
}

@inline(__always)
private func layerNormRow(
    _ row: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, width: Int,
    gain: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Double
) {
    var sum = 0.0
    for i in 0..<width { sum += Double(row[i]) }
    let mean = sum / Double(width)
    var squares = 0.0
    for i in 0..<width {
        let d = Double(row[i]) - mean
        squares += d * d
    }
    let inverseStd = Float(1 / (squares / Double(width) + epsilon).squareRoot())
    let m = Float(mean)
    for i in 0..<width { o[i] = (row[i] - m) * inverseStd * gain[i] + bias[i] }
}

/// out[t] = x[t] / √(mean(x[t]²) + eps) · gain, per row of `width` values `stride` apart (in place
/// when out == x). The mean of squares is accumulated in Double, as HF upcasts before it.
func rmsNorm(
    _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int,
    gain: UnsafePointer<Float>, epsilon: Double
) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 16)
    parallelFor(slices.count) { i in
        for t in slices[i] { rmsNormRow(x + t * stride, into: out + t * stride, width: width, gain: gain, epsilon: epsilon) }
    }
}

@inline(__always)
private func rmsNormRow(
    _ row: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, width: Int, gain: UnsafePointer<Float>, epsilon: Double
) {
    var squares = 0.0
    for i in 0..<width { squares += Double(row[i]) * Double(row[i]) }
    let inverseRMS = 1 / (squares / Double(width) + epsilon).squareRoot()
    for i in 0..<width { o[i] = Float(Double(row[i]) * inverseRMS) * gain[i] }
}

/// Qwen3's q/k norm: RMSNorm over each query head with `queryGain` and each key head with `keyGain`
/// ([head_dim] each), in place in the qkv rows, before the rotation.
func normalizeHeads(
    _ qkv: UnsafeMutablePointer<Float>, heads: AttentionHeads, rows: Int,
    queryGain: UnsafePointer<Float>, keyGain: UnsafePointer<Float>, epsilon: Double
) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 16)
    parallelFor(slices.count) { i in
        for t in slices[i] {
            let row = qkv + t * heads.rowWidth
            for h in 0..<heads.count {
                rmsNormRow(row + heads.queryColumn(h), into: row + heads.queryColumn(h), width: heads.size, gain: queryGain, epsilon: epsilon)
            }
            for h in 0..<heads.keyValueCount {
                rmsNormRow(row + heads.keyColumn(kvHead: h), into: row + heads.keyColumn(kvHead: h), width: heads.size, gain: keyGain, epsilon: epsilon)
            }
        }
    }
}

/// x[t][0..<width] += bias for every row, rows `stride` apart (default: width).
func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int? = nil, bias: UnsafePointer<Float>) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 16)
    parallelFor(slices.count) { i in
        for t in slices[i] {
            let row = x + t * (stride ?? width)
            for j in 0..<width { row[j] += bias[j] }
        }
    }
}
