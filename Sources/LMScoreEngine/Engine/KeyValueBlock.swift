/// The keys and values of consecutive positions of one token path, for every layer, and the final
/// hidden state (after the final norm) of each: what a row continuing these positions needs to
/// attend to them, and what the LM head needs to score their predictions again. The prefix cache
/// keeps one per tree node; a forward pass writes a row's keys/values into one as it computes them.
///
/// Layout, one allocation: per layer l, keys [count, kvWidth] then values [count, kvWidth]; then
/// hidden [count, C]. Keys are stored after the layer's q/k norm and rotation, as attention reads them.
final class KeyValueBlock {
    let count: Int
    let layers: Int
    let keyValueWidth: Int
    let channels: Int
    private let storage: UnsafeMutablePointer<Float>

    init(count: Int, layers: Int, keyValueWidth: Int, channels: Int) {
        self.count = count
        self.layers = layers
        self.keyValueWidth = keyValueWidth
        self.channels = channels
        storage = .allocate(capacity: Self.floats(count: count, layers: layers, keyValueWidth: keyValueWidth, channels: channels))
    }

    deinit { storage.deallocate() }

    static func floats(count: Int, layers: Int, keyValueWidth: Int, channels: Int) -> Int {
        count * (layers * 2 * keyValueWidth + channels)
    }

    /// Bytes of the allocation.
    var bytes: Int { Self.floats(count: count, layers: layers, keyValueWidth: keyValueWidth, channels: channels) * MemoryLayout<Float>.stride }

    /// [count, kvWidth]: layer l's keys, kv head h at column h · head_dim.
    func keys(layer l: Int) -> UnsafeMutablePointer<Float> { storage + l * 2 * count * keyValueWidth }
    /// [count, kvWidth]: layer l's values.
    func values(layer l: Int) -> UnsafeMutablePointer<Float> { keys(layer: l) + count * keyValueWidth }
    /// [count, C]: the final hidden states.
    var hidden: UnsafeMutablePointer<Float> { storage + layers * 2 * count * keyValueWidth }

    /// A new block holding positions `range` of this one (a cache node split in two).
    func copy(_ range: Range<Int>) -> KeyValueBlock {
        let part = KeyValueBlock(count: range.count, layers: layers, keyValueWidth: keyValueWidth, channels: channels)
        let kv = keyValueWidth
        for l in 0..<layers {
            part.keys(layer: l).update(from: keys(layer: l) + range.lowerBound * kv, count: range.count * kv)
            part.values(layer: l).update(from: values(layer: l) + range.lowerBound * kv, count: range.count * kv)
        }
        part.hidden.update(from: hidden + range.lowerBound * channels, count: range.count * channels)
        return part
    }

    /// Copies the keys and values of packed tokens `tokens` of layer l's qkv rows into positions
    /// 0..<tokens.count (kv head h's key at `heads.keyColumn(kvHead: h)` of a qkv row).
    func store(layer l: Int, qkv: UnsafePointer<Float>, tokens: Range<Int>, heads: AttentionHeads) {
        let stride = heads.rowWidth
        let hs = heads.size
        let K = keys(layer: l), V = values(layer: l)
        for (i, t) in tokens.enumerated() {
            let row = qkv + t * stride
            for h in 0..<heads.keyValueCount {
                (K + i * keyValueWidth + h * hs).update(from: row + heads.keyColumn(kvHead: h), count: hs)
                (V + i * keyValueWidth + h * hs).update(from: row + heads.valueColumn(kvHead: h), count: hs)
            }
        }
    }
}

/// Keys/values a row attends to before its own tokens: positions of an earlier row of the same
/// forward batch (computed in this pass), or the first `count` positions of a cached block.
enum AttendedSpan {
    case batch(Range<Int>)
    case cached(KeyValueBlock, count: Int)

    var count: Int {
        switch self {
        case .batch(let tokens): tokens.count
        case .cached(_, let count): count
        }
    }
}
