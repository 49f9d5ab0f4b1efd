import Foundation

/// llama.cpp's `--kl-divergence` report (tools/perplexity/perplexity.cpp, `kl_divergence`) over every
/// scored position of a request, the model p against the reference ("base") q, with its formulas:
///
/// - mean ± uncertainty of values x_1…x_n: mean = Σx/n, uncertainty = √((Σx²/n − mean²)/(n − 1)) when
///   that variance is > 0 and n > 10, else 0;
/// - covariance of ln-perplexity terms a, b: (Σab/n − (Σa/n)(Σb/n))/(n − 1), 0 when n < 10;
/// - percentile f of the sorted values v: with p = f·(n − 1), i = ⌊p⌋: (1 − (p − i))·v_i + (p − i)·v_{i+1};
///   median: the middle value, or the mean of the two middle ones;
/// - PPL = exp(mean nll) ± PPL·uncertainty; ln(PPL(p)/PPL(q)) = mean nll_p − mean nll_q with
///   uncertainty √(u_p² + u_q² − 2·cov); Cor(ln PPL) = cov/(u_p·u_q);
/// - RMS Δp = √(mean Δp²), its uncertainty 0.5/RMS · (uncertainty of the mean of Δp²);
/// - same top: fraction f of positions where both greedy tokens agree, ± √(f(1 − f)/(n − 1)).
///
/// Where lmscore differs: everything is Double (llama.cpp keeps the per-position KL and Δp values and
/// the percentile fractions as float), the KL sums every reference probability (llama.cpp skips
/// reference log-probs below −16 and reads them from its 16-bit logits file), Δp comes from the exact
/// Double sums, and the summary is given for any n ≥ 1 (llama.cpp prints the percentiles only from
/// n ≥ 100).
public struct KLDSummary: Sendable, Equatable {
    public struct Estimate: Sendable, Equatable {
        public let value: Double
        public let uncertainty: Double
    }

    /// Sorted values' order statistics, keyed by percent ("99.9", "99", …).
    public struct Distribution: Sendable, Equatable {
        public let minimum: Double
        public let maximum: Double
        public let median: Double
        /// (percent as written, value), highest first.
        public let percentiles: [(label: String, value: Double)]

        public static func == (a: Self, b: Self) -> Bool {
            a.minimum == b.minimum && a.maximum == b.maximum && a.median == b.median
                && a.percentiles.map(\.label) == b.percentiles.map(\.label) && a.percentiles.map(\.value) == b.percentiles.map(\.value)
        }
    }

    /// Scored positions summarized.
    public let count: Int
    public let klMean: Estimate
    public let kl: Distribution
    public let deltaPMean: Estimate
    public let deltaPRMS: Estimate
    public let deltaP: Distribution
    public let sameTop: Estimate
    public let perplexity: Estimate
    public let referencePerplexity: Estimate
    public let lnPerplexityRatio: Estimate
    public let perplexityRatio: Estimate
    public let perplexityDifference: Estimate
    /// Cor(ln PPL(p), ln PPL(q)); nil when an uncertainty is 0 (n ≤ 10 or constant values).
    public let lnPerplexityCorrelation: Double?

    /// The percentiles llama.cpp prints for KL and for Δp.
    static let klPercentiles: [(String, Double)] = [("99.9", 0.999), ("99", 0.99), ("95", 0.95), ("90", 0.90),
                                                     ("10", 0.10), ("5", 0.05), ("1", 0.01), ("0.1", 0.001)]
    static let deltaPPercentiles: [(String, Double)] = [("99.9", 0.999), ("99", 0.99), ("95", 0.95), ("90", 0.90), ("75", 0.75),
                                                         ("25", 0.25), ("10", 0.10), ("5", 0.05), ("1", 0.01), ("0.1", 0.001)]

    /// One scored position: KL(q‖p), Δp, same top, and both models' log-prob of the target.
    public struct Position: Sendable {
        public let kl: Double
        public let deltaP: Double
        public let sameTop: Bool
        public let logprob: Double
        public let referenceLogprob: Double

        public init(kl: Double, deltaP: Double, sameTop: Bool, logprob: Double, referenceLogprob: Double) {
            self.kl = kl
            self.deltaP = deltaP
            self.sameTop = sameTop
            self.logprob = logprob
            self.referenceLogprob = referenceLogprob
        }
    }

    /// The summary of `positions` (in any order; sums are taken in the order given). nil when empty.
    public init?(_ positions: [Position]) {
        guard !positions.isEmpty else { return nil }
        let n = positions.count
        var sumNLL = 0.0, sumNLL2 = 0.0, sumBase = 0.0, sumBase2 = 0.0, sumCross = 0.0
        var sumKL = 0.0, sumKL2 = 0.0, sumDP = 0.0, sumDP2 = 0.0, sumDP4 = 0.0, sameTop = 0
        for p in positions {
            let nll = -p.logprob, base = -p.referenceLogprob
            sumNLL += nll; sumNLL2 += nll * nll
            sumBase += base; sumBase2 += base * base
            sumCross += nll * base
            sumKL += p.kl; sumKL2 += p.kl * p.kl
            let dp2 = p.deltaP * p.deltaP
            sumDP += p.deltaP; sumDP2 += dp2; sumDP4 += dp2 * dp2
            if p.sameTop { sameTop += 1 }
        }
        count = n
        let lnPPL = Self.meanAndUncertainty(sumNLL, sumNLL2, n)
        let lnBase = Self.meanAndUncertainty(sumBase, sumBase2, n)
        let covariance = Self.covariance(sumNLL, sumBase, sumCross, n)
        let ppl = Foundation.exp(lnPPL.value), pplBase = Foundation.exp(lnBase.value)
        perplexity = Estimate(value: ppl, uncertainty: ppl * lnPPL.uncertainty)
        referencePerplexity = Estimate(value: pplBase, uncertainty: pplBase * lnBase.uncertainty)
        let correlation = covariance / (lnPPL.uncertainty * lnBase.uncertainty)
        lnPerplexityCorrelation = correlation.isFinite ? correlation : nil
        let ratioUncertainty = (lnPPL.uncertainty * lnPPL.uncertainty + lnBase.uncertainty * lnBase.uncertainty - 2 * covariance).squareRoot()
        lnPerplexityRatio = Estimate(value: lnPPL.value - lnBase.value, uncertainty: ratioUncertainty)
        let ratio = Foundation.exp(lnPPL.value - lnBase.value)
        perplexityRatio = Estimate(value: ratio, uncertainty: ratio * ratioUncertainty)
        let pplCovariance = ppl * pplBase * covariance
        perplexityDifference = Estimate(value: ppl - pplBase, uncertainty: (perplexity.uncertainty * perplexity.uncertainty
            + referencePerplexity.uncertainty * referencePerplexity.uncertainty - 2 * pplCovariance).squareRoot())

        klMean = Self.meanAndUncertainty(sumKL, sumKL2, n)
        kl = Self.distribution(positions.map(\.kl), Self.klPercentiles)
        deltaPMean = Self.meanAndUncertainty(sumDP, sumDP2, n)
        let mse = Self.meanAndUncertainty(sumDP2, sumDP4, n)
        let rms = mse.value.squareRoot()
        deltaPRMS = Estimate(value: rms, uncertainty: rms > 0 ? 0.5 / rms * mse.uncertainty : 0)
        deltaP = Self.distribution(positions.map(\.deltaP), Self.deltaPPercentiles)
        let f = Double(sameTop) / Double(n)
        self.sameTop = Estimate(value: f, uncertainty: n > 1 ? (f * (1 - f) / Double(n - 1)).squareRoot() : 0)
    }

    static func meanAndUncertainty(_ sum: Double, _ sum2: Double, _ n: Int) -> Estimate {
        let mean = sum / Double(n)
        let variance = sum2 / Double(n) - mean * mean
        return Estimate(value: mean, uncertainty: variance > 0 && n > 10 ? (variance / Double(n - 1)).squareRoot() : 0)
    }

    static func covariance(_ sumA: Double, _ sumB: Double, _ sumAB: Double, _ n: Int) -> Double {
        guard n >= 10 else { return 0 }
        let N = Double(n)
        return (sumAB / N - (sumA / N) * (sumB / N)) / (N - 1)
    }

    static func distribution(_ values: [Double], _ fractions: [(String, Double)]) -> Distribution {
        let v = values.sorted()
        let n = v.count
        func percentile(_ fraction: Double) -> Double {
            if fraction <= 0 { return v[0] }
            if fraction >= 1 { return v[n - 1] }
            let p = fraction * Double(n - 1)
            let i = Int(p)
            let t = p - Double(i)
            return (1 - t) * v[i] + t * v[min(i + 1, n - 1)]
        }
        let median = n % 2 == 0 ? 0.5 * (v[n / 2] + v[n / 2 - 1]) : v[n / 2]
        return Distribution(minimum: v[0], maximum: v[n - 1], median: median,
                            percentiles: fractions.map { (label: $0.0, value: percentile($0.1)) })
    }
}
