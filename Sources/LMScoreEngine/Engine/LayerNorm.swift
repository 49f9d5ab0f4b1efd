/// out[t] = (x[t] − mean) / sqrt(var + eps) · gain + bias, per row of `width` values.
/// Mean and variance are accumulated in Double: a 768-wide row of Float sums loses bits otherwise.
func layerNorm(
    _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int,
    gain: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float
) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 16)
    parallelFor(slices.count) { i in
        for t in slices[i] { layerNormRow(x + t * width, into: out + t * width, width: width, gain: gain, bias: bias, epsilon: epsilon) }
    }
}

@inline(__always)
private func layerNormRow(
    _ row: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, width: Int,
    gain: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float
) {
    var sum = 0.0
    for i in 0..<width { sum += Double(row[i]) }
    let mean = sum / Double(width)
    var squares = 0.0
    for i in 0..<width {
        let d = Double(row[i]) - mean
        squares += d * d
    }
    let inverseStd = Float(1 / (squares / Double(width) + Double(epsilon)).squareRoot())
    let m = Float(mean)
    for i in 0..<width { o[i] = (row[i] - m) * inverseStd * gain[i] + bias[i] }
}

/// x[t] += bias, for every row.
func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 16)
    parallelFor(slices.count) { i in
        for t in slices[i] {
            let row = x + t * width
            for j in 0..<width { row[j] += bias[j] }
        }
    }
}
