import Foundation

/// Rotary position embeddings in HF's rotate-half layout: the first `dimensions` values of each q and
/// k head are split into halves x1 | x2 and rotated pairwise by position · inv_freq[i]:
///   out[i] = x1[i]·cos − x2[i]·sin,   out[i + half] = x2[i]·cos + x1[i]·sin
/// The rest of the head (partial rotary, NeoX's `rotary_pct`) passes unchanged.
final class RotaryTable: Sendable {
    let dimensions: Int
    private let cosines: [Float]   // [positions, dimensions/2]
    private let sines: [Float]     // [positions, dimensions/2]

    init(_ rotary: Rotary, positions: Int) {
        dimensions = rotary.dimensions
        let half = dimensions / 2
        let inverseFrequencies = Self.inverseFrequencies(rotary)
        var cosines = [Float](repeating: 0, count: positions * half)
        var sines = [Float](repeating: 0, count: positions * half)
        for p in 0..<positions {
            for i in 0..<half {
                // HF multiplies position by inv_freq in FP32 (autocast off) and takes cos/sin of that.
                let angle = Double(Float(p) * inverseFrequencies[i])
                cosines[p * half + i] = Float(Foundation.cos(angle))
                sines[p * half + i] = Float(Foundation.sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// inv_freq[i] = θ^(−2i/d), computed in FP32 as HF's rope init does, then scaled.
    static func inverseFrequencies(_ rotary: Rotary) -> [Float] {
        let d = rotary.dimensions
        let base = (0..<d / 2).map { i in 1 / Float(Foundation.pow(rotary.theta, Double(Float(2 * i) / Float(d)))) }
        switch rotary.scaling {
        case .none:
            return base
        case .linear(let factor):
            return base.map { $0 / Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            // Wavelengths shorter than original/high keep their frequency, longer than original/low are
            // divided by `factor`, and the band between is interpolated (modeling_rope_utils.py).
            let lowWavelength = Double(original) / low
            let highWavelength = Double(original) / high
            return base.map { frequency in
                let wavelength = 2 * Double.pi / Double(frequency)
                if wavelength < highWavelength { return frequency }
                if wavelength > lowWavelength { return frequency / Float(factor) }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return Float((1 - smooth) * Double(frequency) / factor + smooth * Double(frequency))
            }
        }
    }

    /// Rotates every query and key head of the first `positions.count` qkv rows, row t at position
    /// positions[t].
    func rotate(_ qkv: UnsafeMutablePointer<Float>, heads: AttentionHeads, positions: [Int], compute: ComputeContext) {
        let half = dimensions / 2
        let ops = compute.ops
        // Consecutive heads sit heads.size apart (grouped) or 3·size apart (NeoX's per-head q|k|v).
        let headStride = heads.count > 1 ? heads.queryColumn(1) - heads.queryColumn(0) : heads.size
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                compute.forEachSlice(positions.count, granule: 16) { slice in
                    for t in slice {
                        precondition(positions[t] < cosines.count / half, "position beyond the rotary table")
                        let cos = cosines.baseAddress! + positions[t] * half
                        let sin = sines.baseAddress! + positions[t] * half
                        let row = qkv + t * heads.rowWidth
                        ops.rotate_heads(row + heads.queryColumn(0), heads.count, headStride, cos, sin, half)
                        ops.rotate_heads(row + heads.keyColumn(kvHead: 0), heads.keyValueCount, headStride, cos, sin, half)
                    }
                }
            }
        }
    }
}
