import Foundation

/// What a run did, shown on standard error at the end and written with `--summary FILE` as JSON.
public struct BatchSummary: Codable, Sendable, Equatable {
    /// Lines answered by this run (resumed runs: not counting those done before).
    public var lines = 0
    /// Lines an earlier, interrupted run had already answered.
    public var resumedLines = 0
    /// Answers other than 200, by code (`invalid_value`, `malformed_json`, `invalid_url`, …).
    public var errors: [String: Int] = [:]
    /// Tokens of the requests that went through the model (what `bench` counts as tokens per call).
    public var tokens = 0
    /// Positions scored (each sequence's first token has no prediction).
    public var scoredTokens = 0
    public var forwardBatches = 0
    public var seconds = 0.0

    public var tokensPerSecond: Double { Double(tokens) / max(seconds, 1e-9) }
    public var errorCount: Int { errors.values.reduce(0, +) }

    enum CodingKeys: String, CodingKey {
        case lines, resumedLines = "resumed_lines", errors, tokens, scoredTokens = "scored_tokens",
             forwardBatches = "forward_batches", seconds, tokensPerSecond = "tokens_per_second"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lines = try c.decode(Int.self, forKey: .lines)
        resumedLines = try c.decode(Int.self, forKey: .resumedLines)
        errors = try c.decode([String: Int].self, forKey: .errors)
        tokens = try c.decode(Int.self, forKey: .tokens)
        scoredTokens = try c.decode(Int.self, forKey: .scoredTokens)
        forwardBatches = try c.decode(Int.self, forKey: .forwardBatches)
        seconds = try c.decode(Double.self, forKey: .seconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(lines, forKey: .lines)
        try c.encode(resumedLines, forKey: .resumedLines)
        try c.encode(errors, forKey: .errors)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(scoredTokens, forKey: .scoredTokens)
        try c.encode(forwardBatches, forKey: .forwardBatches)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
    }

    /// The lines printed on standard error.
    public var text: String {
        let errorText = errors.isEmpty ? "none" : errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return """
            lines:         \(lines)\(resumedLines > 0 ? " (+\(resumedLines) done by an earlier run)" : "")
            errors:        \(errorCount) (\(errorText))
            tokens:        \(tokens) (\(scoredTokens) scored) in \(forwardBatches) batches
            throughput:    \(String(format: "%.0f", tokensPerSecond)) tokens/s
            wall time:     \(String(format: "%.2f", seconds)) s
            """
    }
}
