import Foundation

/// The GELU MLP's activation, in place.
/// - `gelu_new`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·σ(2u) = x / (1 + e^(−2u)),
///   which is the same function and needs only the vectorized exp.
/// - `gelu`: 0.5·x·(1 + erf(x/√2)).
func gelu(_ x: UnsafeMutablePointer<Float>, count: Int, activation: ModelConfig.Activation) {
    let slices = split(count, parts: ComputeThreads.count, granule: 4096)
    parallelFor(slices.count) { i in
        geluSlice(x + slices[i].lowerBound, count: slices[i].count, activation: activation)
    }
}

private func geluSlice(_ x: UnsafeMutablePointer<Float>, count: Int, activation: ModelConfig.Activation) {
    switch activation {
    case .geluTanh:
        var i = 0
        let k = Floats(repeating: -2 * 0.797_884_560_802_865_4)
        while i + 8 <= count {
            let v = load(x + i)
            let u = v + 0.044_715 * v * v * v
            store(v / (1 + exp(k * u)), x + i)
            i += 8
        }
        while i < count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.tanh(0.797_884_560_802_865_4 * (v + 0.044_715 * v * v * v)))
            i += 1
        }
    case .geluErf:
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.erf(v * 0.707_106_781_186_547_5))
        }
    }
}

/// SwiGLU, in place: each row of `rows` holds gate[width] | up[width]; gate becomes silu(gate) · up,
/// silu(g) = g · σ(g) = g / (1 + e^(−g)). The up half is left as it was.
func swiGLU(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    let slices = split(rows, parts: ComputeThreads.count, granule: 4)
    parallelFor(slices.count) { s in
        for t in slices[s] {
            let gate = x + t * 2 * width
            let up = gate + width
            var i = 0
            while i + 8 <= width {
                let g = load(gate + i)
                store(g / (1 + exp(-g)) * load(up + i), gate + i)
                i += 8
            }
            while i < width {
                let g = gate[i]
                gate[i] = g / (1 + Foundation.exp(-g)) * up[i]
                i += 1
            }
        }
    }
}
