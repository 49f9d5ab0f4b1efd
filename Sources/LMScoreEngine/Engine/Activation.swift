/// The MLP's activations, on the context's kernels (`lmk_elementwise`): every element by the same
/// vector formula, a partial last vector included, so an element's result does not depend on where
/// it sits in the buffer (GELU once took its last T·I mod 8 values through tanh instead).
/// - `gelu_new`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·σ(2u) = x / (1 + e^(−2u)).
/// - `gelu`: 0.5·x·(1 + erf(x/√2)).
/// - `silu`: x · σ(x).

/// x[t] = act(x[t]) for `rows` rows of `width`, rows `stride` apart (default: width), in place (a plain
/// MLP's hidden layer after a Q8_0 product; the float products apply it as they store, `matmul`).
func activate(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int? = nil, _ activation: Activation,
              compute: ComputeContext) {
    let ops = compute.ops, stride = stride ?? width
    compute.forEachSlice(rows, granule: 4) { slice in
        if stride == width {
            ops.activate(x + slice.lowerBound * width, slice.count * width, activation.kernelActivation)
        } else {
            for t in slice { ops.activate(x + t * stride, width, activation.kernelActivation) }
        }
    }
}

/// Gated, in place: each row holds gate[width] | up[width]; gate becomes act(gate) · up (SwiGLU with
/// silu, GeGLU with GELU). The up half is left as it was.
func gated(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, _ activation: Activation, compute: ComputeContext) {
    let ops = compute.ops
    compute.forEachSlice(rows, granule: 4) { slice in
        ops.gated(x + slice.lowerBound * 2 * width, slice.count, width, activation.kernelActivation)
    }
}
