import Foundation
@testable import LMScoreEngine

/// Writes a random checkpoint of `config` into a fresh directory.
func makeCheckpoint(
    _ config: ModelConfig = RandomCheckpoint.Preset.tiny.config, dtype: TensorDType = .f32, seed: UInt64 = 7,
    prefixed: Bool = true, shards: Int = 1, into directory: URL
) throws {
    var options = RandomCheckpoint.Options()
    options.dtype = dtype
    options.seed = seed
    options.prefixed = prefixed
    options.shards = shards
    try RandomCheckpoint.write(config: config, options: options, to: directory)
}

/// Random token rows with a fixed seed.
func randomRows(count: Int, length: Int, vocab: Int, seed: UInt64) -> [[Int32]] {
    var random = SplitMix64(seed: seed)
    return (0..<count).map { _ in (0..<length).map { _ in Int32(random.next() % UInt64(vocab)) } }
}

/// Largest |a − b| over positions scored in both; also checks both score the same positions.
func maxLogprobDifference(_ a: RowScore, _ b: RowScore) -> Double? {
    guard a.positions.count == b.positions.count else { return nil }
    var worst = 0.0
    for (x, y) in zip(a.positions, b.positions) {
        switch (x, y) {
        case (nil, nil): continue
        case let (x?, y?): worst = max(worst, abs(x.logprob - y.logprob))
        default: return nil
        }
    }
    return worst
}
