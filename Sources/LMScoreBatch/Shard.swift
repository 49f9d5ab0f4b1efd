/// `--shard I/N`: this process takes the input lines whose 0-based index mod N is I, so N processes —
/// on one machine or many, e.g. the pods of a Kubernetes Indexed Job — split one file with no
/// coordinator; `lmscore batch --merge` joins their outputs in input order.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public static let whole = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `I/N` with 0 ≤ I < N.
    public init(parsing text: String) throws(BatchError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let index = parts[0], let count = parts[1], count >= 1, (0..<count).contains(index) else {
            throw BatchError("--shard \(text): expected I/N with 0 ≤ I < N (e.g. 0/4)")
        }
        self.init(index: index, count: count)
    }

    /// Whether this shard takes the line at 0-based index `line`.
    public func takes(line: Int) -> Bool { line % count == index }

    public var description: String { "\(index)/\(count)" }
}
