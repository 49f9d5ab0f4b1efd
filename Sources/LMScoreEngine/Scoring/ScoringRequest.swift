/// What to score, as native values (the JSON schema lives in LMScoreAPI).
public struct ScoringRequest: Sendable, Equatable {
    public enum Rows: Sendable, Equatable {
        /// Each sequence scored on itself: token t+1 predicted from tokens 0...t.
        case sequences([[Int32]])
        /// PyTorch's form: input t predicts target t; a target of -100 is ignored.
        case inputsTargets(inputs: [[Int32]], targets: [[Int32]])
        /// Multiple choice: each group's continuations scored after its context, which the model reads
        /// once per group. Result rows are the continuations, group after group.
        case choices([ChoiceGroup])
    }

    public var rows: Rows
    /// How many most-likely alternatives to report per scored position (0...20).
    public var topK: Int
    /// Sliding-window stride for sequences longer than the context; nil means n_positions / 2.
    public var stride: Int?
    /// Also predict the greedy token after each sequence (`RowScore.next`); `sequences` only.
    public var nextToken: Bool
    /// When set, `sequences` (all within n_positions) that start with at least this many equal tokens
    /// share one forward pass over that prefix, as `choices` share their context: several prompts of
    /// one multiple-choice question cost about one. Scores equal unshared scoring up to float rounding.
    public var sharedPrefixMinimum: Int?
    /// Per-position statistics to report beside each log-prob (entropy, rank).
    public var statistics: PositionStatistics = []

    public init(rows: Rows, topK: Int = 0, stride: Int? = nil, nextToken: Bool = false, sharedPrefixMinimum: Int? = nil,
                statistics: PositionStatistics = []) {
        self.rows = rows
        self.topK = topK
        self.stride = stride
        self.nextToken = nextToken
        self.sharedPrefixMinimum = sharedPrefixMinimum
        self.statistics = statistics
    }

    /// PyTorch's `ignore_index`.
    public static let ignoredTarget: Int32 = -100
    public static let maxTopK = 20

    public var rowCount: Int {
        switch rows {
        case .sequences(let sequences): return sequences.count
        case .inputsTargets(let inputs, _): return inputs.count
        case .choices(let groups): return groups.reduce(0) { $0 + $1.continuations.count }
        }
    }

    /// Tokens the request holds: what admission control counts.
    public var tokenCount: Int {
        switch rows {
        case .sequences(let sequences): return sequences.reduce(0) { $0 + $1.count }
        case .inputsTargets(let inputs, _): return inputs.reduce(0) { $0 + $1.count }
        case .choices(let groups): return groups.reduce(0) { $0 + $1.tokenCount }
        }
    }
}

/// One multiple-choice item: a context and the continuations to score after it (lm-eval's
/// `loglikelihood` requests that share a context).
public struct ChoiceGroup: Sendable, Equatable {
    public var context: [Int32]
    public var continuations: [[Int32]]

    public init(context: [Int32], continuations: [[Int32]]) {
        self.context = context
        self.continuations = continuations
    }

    var tokenCount: Int { context.count + continuations.reduce(0) { $0 + $1.count } }
}

/// A request the model cannot score as given. `parameter` is the JSON path of the offending value,
/// e.g. `sequences[3][17]`.
public struct ValidationError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, so the API can give each its own error code.
    public enum Kind: Sendable, Equatable {
        /// A value out of its range or inconsistent with another.
        case invalidValue
        /// A row that must fit the model's context (no sliding window applies) is longer.
        case contextLengthExceeded
    }

    public let parameter: String
    public let message: String
    public let kind: Kind

    public init(parameter: String, message: String, kind: Kind = .invalidValue) {
        self.parameter = parameter
        self.message = message
        self.kind = kind
    }

    public var description: String { "\(parameter): \(message)" }
}

extension ScoringRequest {
    /// Checks the request against the model's vocabulary and context length.
    public func validate(for config: ModelConfig) throws(ValidationError) {
        let vocab = config.vocabSize
        let context = config.nPositions
        func fail(_ parameter: String, _ message: String) -> ValidationError {
            ValidationError(parameter: parameter, message: message)
        }
        func tooLong(_ parameter: String, _ message: String) -> ValidationError {
            ValidationError(parameter: parameter, message: message, kind: .contextLengthExceeded)
        }
        func checkIDs(_ row: [Int32], _ path: String, allowIgnored: Bool) throws(ValidationError) {
            for (t, id) in row.enumerated() where id < 0 || Int(id) >= vocab {
                if allowIgnored && id == Self.ignoredTarget { continue }
                let allowed = allowIgnored ? "[0, \(vocab)) or -100 (ignored)" : "[0, \(vocab))"
                throw fail("\(path)[\(t)]", "token id \(id) is out of range: expected \(allowed)")
            }
        }

        guard (0...Self.maxTopK).contains(topK) else {
            throw fail("top_k", "top_k must be between 0 and \(Self.maxTopK), got \(topK)")
        }
        if let stride, !(1...context).contains(stride) {
            throw fail("window.stride", "stride must be between 1 and n_positions (\(context)), got \(stride)")
        }
        switch rows {
        case .sequences(let sequences):
            guard !sequences.isEmpty else { throw fail("sequences", "at least one sequence is required") }
            for (r, sequence) in sequences.enumerated() {
                guard !sequence.isEmpty else { throw fail("sequences[\(r)]", "a sequence must hold at least one token") }
                try checkIDs(sequence, "sequences[\(r)]", allowIgnored: false)
            }
        case .inputsTargets(let inputs, let targets):
            guard !inputs.isEmpty else { throw fail("inputs", "at least one row is required") }
            guard inputs.count == targets.count else {
                throw fail("targets", "\(targets.count) target rows for \(inputs.count) input rows")
            }
            for (r, (input, target)) in zip(inputs, targets).enumerated() {
                guard !input.isEmpty else { throw fail("inputs[\(r)]", "a row must hold at least one token") }
                guard input.count == target.count else {
                    throw fail("targets[\(r)]", "\(target.count) targets for \(input.count) inputs; they must be equal")
                }
                guard input.count <= context else {
                    throw tooLong("inputs[\(r)]", "\(input.count) tokens exceed the context length, n_positions (\(context)); "
                        + "use `sequences` for sliding-window scoring of long texts")
                }
                try checkIDs(input, "inputs[\(r)]", allowIgnored: false)
                try checkIDs(target, "targets[\(r)]", allowIgnored: true)
            }
        case .choices(let groups):
            guard !groups.isEmpty else { throw fail("choices", "at least one choice group is required") }
            for (g, group) in groups.enumerated() {
                guard !group.context.isEmpty else {
                    throw fail("choices[\(g)].context", "a context must hold at least one token (the first continuation "
                        + "token is predicted from it); for an empty context send the end-of-text token (50256 in GPT-2's vocabulary), "
                        + "as lm-eval does")
                }
                try checkIDs(group.context, "choices[\(g)].context", allowIgnored: false)
                guard !group.continuations.isEmpty else {
                    throw fail("choices[\(g)].continuations", "at least one continuation is required")
                }
                for (c, continuation) in group.continuations.enumerated() {
                    let path = "choices[\(g)].continuations[\(c)]"
                    guard !continuation.isEmpty else { throw fail(path, "a continuation must hold at least one token") }
                    guard group.context.count + continuation.count <= context else {
                        throw tooLong(path, "context (\(group.context.count) tokens) + continuation (\(continuation.count)) "
                            + "exceed the context length, n_positions (\(context))")
                    }
                    try checkIDs(continuation, path, allowIgnored: false)
                }
            }
        }
        if nextToken {
            guard case .sequences = rows else {
                throw fail("next_token", "a next-token prediction is only made for `sequences`")
            }
        }
    }
}
