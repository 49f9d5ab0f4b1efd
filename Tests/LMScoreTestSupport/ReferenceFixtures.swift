import Foundation
import LMScoreEngine

/// An `expected.json` written by HF transformers in float64 (../shared/reference and
/// Tests/Fixtures/reference share the format; see Scripts/make_reference.py).
public struct ReferenceFile: Decodable, Sendable {
    public let model: String
    public let cases: [ReferenceCase]
}

public struct ReferenceCase: Decodable, Sendable {
    public struct Window: Decodable, Sendable { public let stride: Int }
    public struct Row: Decodable, Sendable {
        public let target_logprobs: [Double?]
        public let top: [[[Double]]?]?
        public let greedy: [Bool?]?
        public let scored_tokens: Int
        public let sum_logprob: Double
        public let loss: Double
        public let perplexity: Double
    }
    public struct Batch: Decodable, Sendable {
        public let scored_tokens: Int
        public let loss: Double
        public let perplexity: Double
    }
    public let name: String
    public let sequences: [[Int32]]?
    public let inputs: [[Int32]]?
    public let targets: [[Int32]]?
    public let window: Window?
    public let rows: [Row]
    public let batch: Batch

    public var request: ScoringRequest {
        let rows: ScoringRequest.Rows = if let sequences { .sequences(sequences) } else { .inputsTargets(inputs: inputs!, targets: targets!) }
        return ScoringRequest(rows: rows, topK: 5, stride: window?.stride)
    }

    /// The reference's per-target values lined up with lmscore's positions (sequences start at 1).
    public func alignedExpected(_ row: Row) -> (offset: Int, count: Int) {
        (sequences == nil ? 0 : 1, row.target_logprobs.count)
    }
}

public enum Fixtures {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/reference` beside the repository (LMSCORE_SHARED_REFERENCE overrides).
    public static let sharedReference: URL = {
        if let path = ProcessInfo.processInfo.environment["LMSCORE_SHARED_REFERENCE"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")
    }()

    public static let committedReference = repositoryRoot.appendingPathComponent("Tests/Fixtures/reference")

    public static var hasSharedReference: Bool {
        FileManager.default.fileExists(atPath: sharedReference.appendingPathComponent("tiny/expected.json").path)
    }

    public static func committedFixtureNames() -> [String] { fixtureNames(in: committedReference) }

    /// Every folder of ../shared/reference with an expected.json (GPT-2 and the other families).
    public static func sharedFixtureNames() -> [String] { fixtureNames(in: sharedReference) }

    private static func fixtureNames(in root: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter {
            FileManager.default.fileExists(atPath: root.appendingPathComponent("\($0)/expected.json").path)
        }.sorted()
    }

    public static func loadReference(_ directory: URL) throws -> ReferenceFile {
        try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
    }
}
