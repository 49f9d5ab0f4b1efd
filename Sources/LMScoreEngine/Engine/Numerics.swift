import CKernels

/// Whose floating-point arithmetic a forward pass follows where transformers' and llama.cpp's differ
/// (`--numerics`, the server's `numerics`).
/// - `transformers` (the default): transformers' functions (GELU's tanh or erf form computed in FP32,
///   lmscore's Q8_0 order: a block's 32 products in one int32, one FMA chain), which the float64
///   reference fixtures check.
/// - `llamaCpp`: llama.cpp's CPU backend where it matters for agreeing with it on the same GGUF file
///   (docs/models.md measures each cause): GELU — both forms, llama.cpp has only the tanh one — through
///   its table of FP16 values at FP16(x) (gelu_table.c), and Q8_0 products in its order (q8_0_lanes.c).
///   Everything else (norms, RoPE, softmax, SiLU, FP32 and 16-bit products) stays lmscore's.
/// Either way every path gives the same bits and a row's scores do not depend on its batch.
public enum Numerics: String, Sendable, CaseIterable {
    case transformers
    case llamaCpp = "llama.cpp"

    var kernelNumerics: lmk_numerics {
        switch self {
        case .transformers: LMK_NUMERICS_TRANSFORMERS
        case .llamaCpp: LMK_NUMERICS_LLAMA_CPP
        }
    }
}

extension DecoderModel {
    /// The same model (weights shared) computing with `numerics`: its config says so, and a `Scorer`
    /// made for it runs the matching kernels.
    public func with(numerics: Numerics) -> DecoderModel {
        guard numerics != config.numerics else { return self }
        var config = self.config
        config.numerics = numerics
        return DecoderModel(config: config, weights: weights, summary: summary)
    }
}
