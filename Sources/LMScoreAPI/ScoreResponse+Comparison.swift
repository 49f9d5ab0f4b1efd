import Foundation
import LMScoreEngine

/// The `/score` fields of per-position statistics and of a comparison with a reference model:
/// per row `entropy`, `rank` (asked for with `statistics`) and `kl`, `delta_p`, `same_top`,
/// `reference_logprobs`, `cross_entropy` (lists aligned with `logprobs`, null where it is null),
/// `binoculars`, `fast_detect_gpt` (numbers, null when nothing is scored); `batch.kld`: llama.cpp's summary.
extension ScoreResponse.Row {
    private enum StatisticsKeys: String, CodingKey {
        case entropy, rank, kl, delta_p, same_top, reference_logprobs, cross_entropy, binoculars, fast_detect_gpt
    }

    func encodeStatisticsAndComparison(to encoder: Encoder) throws {
        guard !statistics.isEmpty || comparison != nil else { return }
        var c = encoder.container(keyedBy: StatisticsKeys.self)
        if statistics.contains(.entropy) { try c.encode(positions.map { $0?.entropy }, forKey: .entropy) }
        if statistics.contains(.rank) { try c.encode(positions.map { $0?.rank }, forKey: .rank) }
        guard let comparison else { return }
        let compared = comparison.positions
        try c.encode(compared.map { $0?.kl }, forKey: .kl)
        try c.encode(compared.map { $0?.deltaP }, forKey: .delta_p)
        try c.encode(compared.map { $0?.sameTop }, forKey: .same_top)
        try c.encode(compared.map { $0?.reference.logprob }, forKey: .reference_logprobs)
        try c.encode(compared.map { $0?.crossEntropy }, forKey: .cross_entropy)
        try c.encode(comparison.binoculars, forKey: .binoculars)
        try c.encode(comparison.fastDetectGPT, forKey: .fast_detect_gpt)
    }
}

extension ScoreResponse.Batch {
    private enum KLDKey: String, CodingKey { case kld }

    func encodeKLD(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: KLDKey.self)
        try c.encode(kld.map(KLDJSON.init), forKey: .kld)
    }
}

/// `batch.kld`: every figure of llama.cpp's `--kl-divergence` report (KLDSummary), Δp as a fraction
/// (llama.cpp prints percent).
public struct KLDJSON: Encodable {
    let summary: KLDSummary
    public init(_ summary: KLDSummary) { self.summary = summary }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        let s = summary
        try c.encode(s.count, forKey: "positions")
        try c.encode(Distribution(mean: s.klMean, distribution: s.kl), forKey: "kl_divergence")
        try c.encode(Distribution(mean: s.deltaPMean, distribution: s.deltaP, rms: s.deltaPRMS), forKey: "delta_p")
        try c.encode(["fraction": s.sameTop.value, "uncertainty": s.sameTop.uncertainty], forKey: "same_top")
        try c.encode(Estimate(s.perplexity), forKey: "perplexity")
        try c.encode(Estimate(s.referencePerplexity), forKey: "reference_perplexity")
        try c.encode(Estimate(s.lnPerplexityRatio), forKey: "ln_perplexity_ratio")
        try c.encode(Estimate(s.perplexityRatio), forKey: "perplexity_ratio")
        try c.encode(Estimate(s.perplexityDifference), forKey: "perplexity_difference")
        try c.encode(s.lnPerplexityCorrelation, forKey: "ln_perplexity_correlation")
    }

    struct Estimate: Encodable {
        let value: Double, uncertainty: Double
        init(_ e: KLDSummary.Estimate) { value = e.value; uncertainty = e.uncertainty }
    }

    struct Distribution: Encodable {
        let mean: KLDSummary.Estimate
        let distribution: KLDSummary.Distribution
        var rms: KLDSummary.Estimate? = nil

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: DynamicKey.self)
            try c.encode(mean.value, forKey: "mean")
            try c.encode(mean.uncertainty, forKey: "uncertainty")
            if let rms {
                try c.encode(rms.value, forKey: "rms")
                try c.encode(rms.uncertainty, forKey: "rms_uncertainty")
            }
            try c.encode(distribution.median, forKey: "median")
            try c.encode(distribution.minimum, forKey: "minimum")
            try c.encode(distribution.maximum, forKey: "maximum")
            var percentiles = c.nestedContainer(keyedBy: DynamicKey.self, forKey: "percentiles")
            for (label, value) in distribution.percentiles { try percentiles.encode(value, forKey: DynamicKey(stringValue: label)) }
        }
    }
}

struct DynamicKey: CodingKey, ExpressibleByStringLiteral {
    let stringValue: String
    init(stringValue: String) { self.stringValue = stringValue }
    init(stringLiteral value: String) { stringValue = value }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}
