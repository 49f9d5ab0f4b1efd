import Foundation
import LMScoreEngine
import LMScoreTestSupport

/// The largest deviations seen while checking one checkpoint against its reference.
struct ReferenceComparison: CustomStringConvertible {
    var maxLogprobError = 0.0
    var maxLossRelativeError = 0.0
    var topMismatches: [String] = []
    var greedyMismatches: [String] = []
    var countMismatches: [String] = []

    var description: String {
        "max |Δ logprob| \(maxLogprobError), max loss rel. error \(maxLossRelativeError), "
            + "top-5 mismatches \(topMismatches.count), greedy mismatches \(greedyMismatches.count)"
    }

    static func compare(scorer: Scorer, reference: ReferenceFile) throws -> ReferenceComparison {
        var report = ReferenceComparison()
        for testCase in reference.cases {
            let result = try scorer.score(testCase.request)
            for (r, (expected, actual)) in zip(testCase.rows, result.rows).enumerated() {
                let (offset, count) = testCase.alignedExpected(expected)
                if actual.positions.count - offset != count || actual.scoredTokens != expected.scored_tokens {
                    report.countMismatches.append("\(testCase.name) row \(r)")
                    continue
                }
                for t in 0..<count {
                    let got = actual.positions[offset + t]
                    guard let want = expected.target_logprobs[t] else {
                        if got != nil { report.countMismatches.append("\(testCase.name) row \(r) pos \(t) scored") }
                        continue
                    }
                    guard let got else {
                        report.countMismatches.append("\(testCase.name) row \(r) pos \(t) unscored")
                        continue
                    }
                    report.maxLogprobError = max(report.maxLogprobError, abs(got.logprob - want))
                    if let top = expected.top?[t] {
                        let wantIDs = top.map { Int32($0[0]) }
                        if got.top.map(\.id) != wantIDs { report.topMismatches.append("\(testCase.name) row \(r) pos \(t)") }
                        for (g, w) in zip(got.top, top) { report.maxLogprobError = max(report.maxLogprobError, abs(g.logprob - w[1])) }
                    }
                    if let greedy = expected.greedy?[t], greedy != got.isGreedy {
                        report.greedyMismatches.append("\(testCase.name) row \(r) pos \(t)")
                    }
                }
                report.maxLossRelativeError = max(report.maxLossRelativeError, abs(actual.loss! - expected.loss) / expected.loss)
            }
            if result.batch.scoredTokens != testCase.batch.scored_tokens {
                report.countMismatches.append("\(testCase.name) batch")
            }
            report.maxLossRelativeError = max(
                report.maxLossRelativeError, abs(result.batch.loss! - testCase.batch.loss) / testCase.batch.loss)
        }
        return report
    }
}
