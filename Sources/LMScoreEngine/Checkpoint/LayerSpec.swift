import Foundation

/// One transformer block, as data: which attention (full or a sliding window, RoPE, scale, soft-cap,
/// q/k norm, biases), which MLP (plain or gated, its activation), where the norms sit and how the
/// residual adds up. A family maps its `config.json` onto one `LayerSpec` per layer
/// (`Checkpoint/Families/`); `DecoderModel.forward` reads them and names no family.
public struct LayerSpec: Sendable, Equatable {
    public var attention: AttentionSpec
    public var mlp: MLPSpec
    /// A norm on the attention sub-layer's output before it joins the residual (Gemma 2/3's
    /// `post_attention_layernorm`); the pre-norm (`input_layernorm`, `ln_1`) is always there.
    public var postAttentionNorm: Bool
    /// A norm on the MLP's output before it joins the residual (Gemma 2/3's `post_feedforward_layernorm`).
    public var postMLPNorm: Bool
    public var residual: Residual

    public init(attention: AttentionSpec, mlp: MLPSpec, postAttentionNorm: Bool = false, postMLPNorm: Bool = false,
                residual: Residual = .sequential) {
        self.attention = attention
        self.mlp = mlp
        self.postAttentionNorm = postAttentionNorm
        self.postMLPNorm = postMLPNorm
        self.residual = residual
    }
}

public enum Residual: String, Sendable {
    /// x += attn(norm₁ x); x += mlp(norm₂ x)
    case sequential
    /// x += attn(norm₁ x) + mlp(norm₂ x), both norms reading the same x (GPT-NeoX).
    case parallel
}

public struct AttentionSpec: Sendable, Equatable {
    /// nil: every earlier position; N: a query sees only itself and the N − 1 positions before it.
    public var slidingWindow: Int?
    /// Rotary embeddings of q and k (nil: none, learned positions are added to the embeddings).
    public var rotary: Rotary?
    /// What q·k is multiplied by: 1/√head_dim, or another scale (`query_pre_attn_scalar`, GPT-2's
    /// `scale_attn_by_inverse_layer_idx`).
    public var scale: Float
    /// scores = cap · tanh(scores / cap) before the softmax (Gemma 2's `attn_logit_softcapping`).
    public var logitSoftcap: Float?
    /// RMSNorm over each q and k head before the rotation (Qwen3, Gemma 3).
    public var queryKeyNorm: Bool
    public var qkvBias: Bool
    public var outputBias: Bool

    public init(slidingWindow: Int? = nil, rotary: Rotary?, scale: Float, logitSoftcap: Float? = nil, queryKeyNorm: Bool = false,
                qkvBias: Bool, outputBias: Bool) {
        self.slidingWindow = slidingWindow
        self.rotary = rotary
        self.scale = scale
        self.logitSoftcap = logitSoftcap
        self.queryKeyNorm = queryKeyNorm
        self.qkvBias = qkvBias
        self.outputBias = outputBias
    }
}

public struct MLPSpec: Sendable, Equatable {
    /// down(act(gate x) · up x) when gated (SwiGLU, GeGLU); down(act(up x)) when not.
    public var gated: Bool
    public var activation: Activation
    public var bias: Bool

    public init(gated: Bool, activation: Activation, bias: Bool) {
        self.gated = gated
        self.activation = activation
        self.bias = bias
    }
}

public enum Activation: String, Sendable {
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    case geluTanh = "gelu_new"
    /// `gelu`: the exact erf form.
    case geluErf = "gelu"
    /// `silu`: x · σ(x).
    case silu
}

/// RoPE scaling of the inverse frequencies (`rope_scaling` / `rope_parameters.rope_type`).
public enum RopeScaling: Sendable, Hashable {
    case none
    /// Positions divided by `factor` (every inverse frequency divided by it).
    case linear(factor: Double)
    /// Llama 3.1: long wavelengths divided by `factor`, short ones kept, a smooth band between.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
}

/// Rotary position embeddings in HF's rotate-half layout.
public struct Rotary: Sendable, Hashable {
    /// θ of inv_freq[i] = θ^(−2i/dims).
    public var theta: Double
    /// How many leading dimensions of each head rotate (head_dim · partial factor, even).
    public var dimensions: Int
    public var scaling: RopeScaling

    public init(theta: Double, dimensions: Int, scaling: RopeScaling) {
        self.theta = theta
        self.dimensions = dimensions
        self.scaling = scaling
    }

    /// "16/64 θ=10000 llama3×8"
    func description(headSize: Int) -> String {
        let scaling = switch scaling {
        case .none: ""
        case .linear(let factor): " linear×\(factor)"
        case .llama3(let factor, _, _, _): " llama3×\(factor)"
        }
        return "\(dimensions)/\(headSize) θ=\(theta)\(scaling)"
    }
}

/// Which norm every norm of the model is.
public struct NormSpec: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// (x − mean) / √(var + ε) · gain + bias
        case layerNorm
        /// x / √(mean(x²) + ε) · gain, statistics in Double (HF computes them in FP32 at least).
        case rmsNorm
    }

    public var kind: Kind
    /// ε (`layer_norm_epsilon`, `rms_norm_eps`, `layer_norm_eps`).
    public var epsilon: Double
    /// Added to the stored gain: 1 for Gemma's x · (1 + w), 0 for the plain gain.
    public var gainOffset: Float

    public init(kind: Kind, epsilon: Double, gainOffset: Float = 0) {
        self.kind = kind
        self.epsilon = epsilon
        self.gainOffset = gainOffset
    }
}

extension LayerSpec {
    /// One line for `lmscore inspect`, e.g. "window 8, rotary 16/16 θ=10000, scale 0.204, softcap 5;
    /// gated gelu_new; post-norms".
    func summary(headSize: Int) -> String {
        let a = attention
        var parts = [a.slidingWindow.map { "window \($0)" } ?? "full"]
        if let rotary = a.rotary { parts.append("rotary " + rotary.description(headSize: headSize)) }
        parts.append("scale \(a.scale)")
        if let cap = a.logitSoftcap { parts.append("softcap \(cap)") }
        if a.queryKeyNorm { parts.append("q/k norm") }
        var line = parts.joined(separator: ", ") + "; " + (mlp.gated ? "gated " : "") + mlp.activation.rawValue
        if postAttentionNorm || postMLPNorm { line += "; post-norms" }
        if residual == .parallel { line += "; parallel residual" }
        return line
    }
}

extension ModelConfig {
    /// Each distinct layer with the indices of the layers that are it, e.g. "0,2: window 8, …  |  1: full, …".
    public var layerSummary: String {
        var order: [String] = []
        var indices: [String: [Int]] = [:]
        for (l, layer) in layers.enumerated() {
            let line = layer.summary(headSize: headSize)
            if indices[line] == nil { order.append(line) }
            indices[line, default: []].append(l)
        }
        return order.map { line in
            let list = indices[line]!
            let which = list.count == layers.count ? "all" : list.map(String.init).joined(separator: ",")
            return "\(which): \(line)"
        }.joined(separator: " | ")
    }
}
