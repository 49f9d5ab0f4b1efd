import Foundation
import LMScoreEngine

/// An `expected.json` written by HF transformers in float64 (../shared/reference and
/// Tests/Fixtures/reference share the format; see Scripts/make_reference.py).
struct ReferenceFile: Decodable {
    let model: String
    let cases: [ReferenceCase]
}

struct ReferenceCase: Decodable {
    struct Window: Decodable { let stride: Int }
    struct Row: Decodable {
        let target_logprobs: [Double?]
        let top: [[[Double]]?]?
        let greedy: [Bool?]?
        let scored_tokens: Int
        let sum_logprob: Double
        let loss: Double
        let perplexity: Double
    }
    struct Batch: Decodable {
        let scored_tokens: Int
        let loss: Double
        let perplexity: Double
    }
    let name: String
    let sequences: [[Int32]]?
    let inputs: [[Int32]]?
    let targets: [[Int32]]?
    let window: Window?
    let rows: [Row]
    let batch: Batch

    var request: ScoringRequest {
        let rows: ScoringRequest.Rows = if let sequences { .sequences(sequences) } else { .inputsTargets(inputs: inputs!, targets: targets!) }
        return ScoringRequest(rows: rows, topK: 5, stride: window?.stride)
    }

    /// The reference's per-target values lined up with lmscore's positions (sequences start at 1).
    func alignedExpected(_ row: Row) -> (offset: Int, count: Int) {
        (sequences == nil ? 0 : 1, row.target_logprobs.count)
    }
}

enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/reference` beside the repository (LMSCORE_SHARED_REFERENCE overrides).
    static let sharedReference: URL = {
        if let path = ProcessInfo.processInfo.environment["LMSCORE_SHARED_REFERENCE"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")
    }()

    static let committedReference = repositoryRoot.appendingPathComponent("Tests/Fixtures/reference")

    static var hasSharedReference: Bool {
        FileManager.default.fileExists(atPath: sharedReference.appendingPathComponent("tiny/expected.json").path)
    }

    static func committedFixtureNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: committedReference.path)) ?? []
        return names.filter {
            FileManager.default.fileExists(atPath: committedReference.appendingPathComponent("\($0)/expected.json").path)
        }.sorted()
    }

    static func loadReference(_ directory: URL) throws -> ReferenceFile {
        try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
    }
}

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
