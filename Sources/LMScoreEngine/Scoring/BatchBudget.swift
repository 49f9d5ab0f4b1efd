/// The rule that groups queued requests into one `Scorer.score(batch:)` call, shared by the HTTP
/// server's scheduler and `lmscore batch` so that both pack the same way: requests join in arrival
/// order while their tokens fit `maxTokens`; the first always joins, so a request larger than the
/// budget that passed validation is still served (alone).
public struct BatchBudget: Sendable {
    public let maxTokens: Int
    public private(set) var tokens = 0
    public private(set) var requests = 0

    public init(maxTokens: Int) {
        self.maxTokens = maxTokens
    }

    /// Whether a request of `requestTokens` tokens still fits the batch being formed.
    public func admits(_ requestTokens: Int) -> Bool {
        requests == 0 || tokens + requestTokens <= maxTokens
    }

    /// Counts a request into the batch (after `admits` said yes).
    public mutating func add(_ requestTokens: Int) {
        tokens += requestTokens
        requests += 1
    }
}
