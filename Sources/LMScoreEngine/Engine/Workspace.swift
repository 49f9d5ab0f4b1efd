/// The forward pass's buffers, grown on demand and reused between calls, so a busy server does not
/// fault in fresh pages for every batch. Not shared between concurrent passes. Sized for the widest
/// layer the description holds (a gated MLP's [T, 2I], a parallel residual's second norm, a post-norm's
/// buffer only when some layer has one).
final class Workspace {
    private let config: ModelConfig
    private(set) var capacity = 0
    private(set) var scoresCapacity = 0
    private(set) var residual: UnsafeMutablePointer<Float>        // [T, C]
    private(set) var normed: UnsafeMutablePointer<Float>          // [T, C]
    private(set) var normedForMLP: UnsafeMutablePointer<Float>    // [T, C], parallel residual only
    private(set) var sublayerOutput: UnsafeMutablePointer<Float>  // [T, C], post-norms only
    private(set) var qkv: UnsafeMutablePointer<Float>             // [T, (heads + 2·kv heads) · head_dim]
    private(set) var attended: UnsafeMutablePointer<Float>        // [T, heads · head_dim]
    private(set) var hidden: UnsafeMutablePointer<Float>          // [T, I], or [T, 2I] for a gated MLP's gate | up
    private(set) var scores: UnsafeMutablePointer<Float>          // [threads, queryBlock, longest row]
    private(set) var scoresPerThread = 0

    init(config: ModelConfig) {
        self.config = config
        residual = .allocate(capacity: 1); normed = .allocate(capacity: 1); normedForMLP = .allocate(capacity: 1)
        sublayerOutput = .allocate(capacity: 1)
        qkv = .allocate(capacity: 1); attended = .allocate(capacity: 1); hidden = .allocate(capacity: 1)
        scores = .allocate(capacity: 1)
    }

    private var tokenBuffers: [UnsafeMutablePointer<Float>] { [residual, normed, normedForMLP, sublayerOutput, qkv, attended, hidden] }

    /// Room for `tokens` tokens and attention scratch for `threads` threads over rows of `longestRow` keys.
    func reserve(tokens: Int, longestRow: Int, threads: Int) {
        if tokens > capacity {
            let C = config.nEmbd
            let layers = config.layers
            for buffer in tokenBuffers { buffer.deallocate() }
            residual = .allocate(capacity: tokens * C)
            normed = .allocate(capacity: tokens * C)
            normedForMLP = .allocate(capacity: layers.contains { $0.residual == .parallel } ? tokens * C : 1)
            sublayerOutput = .allocate(capacity: layers.contains { $0.postAttentionNorm || $0.postMLPNorm } ? tokens * C : 1)
            qkv = .allocate(capacity: tokens * (config.queryWidth + 2 * config.keyValueWidth))
            attended = .allocate(capacity: tokens * config.queryWidth)
            hidden = .allocate(capacity: tokens * config.nInner * (layers.contains { $0.mlp.gated } ? 2 : 1))
            capacity = tokens
        }
        let perThread = min(attentionQueryBlock, longestRow) * longestRow
        let needed = perThread * threads
        if needed > scoresCapacity {
            scores.deallocate()
            scores = .allocate(capacity: needed)
            scoresCapacity = needed
        }
        scoresPerThread = perThread
    }

    /// Returns memory to the system (after an unusually large request).
    func shrink() {
        for buffer in tokenBuffers + [scores] { buffer.deallocate() }
        residual = .allocate(capacity: 1); normed = .allocate(capacity: 1); normedForMLP = .allocate(capacity: 1)
        sublayerOutput = .allocate(capacity: 1)
        qkv = .allocate(capacity: 1); attended = .allocate(capacity: 1); hidden = .allocate(capacity: 1)
        scores = .allocate(capacity: 1)
        capacity = 0
        scoresCapacity = 0
    }

    deinit { for buffer in tokenBuffers + [scores] { buffer.deallocate() } }
}
