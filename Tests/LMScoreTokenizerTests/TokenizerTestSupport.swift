import Foundation
import LMScoreTokenizer

/// The repository's ranks file and one tokenizer loaded from it, shared by all tests (it is immutable).
enum Fixture {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelDirectory = repositoryRoot.appendingPathComponent("Models/lmscore-gpt2-small-en")
    static let ranksFile = modelDirectory.appendingPathComponent("gpt2.tiktoken")

    static let tokenizer: GPT2Tokenizer = {
        do { return try GPT2Tokenizer(ranksFile: ranksFile) } catch { fatalError("\(error)") }
    }()
}

extension TokenizerError {
    /// The file's real digest, when this is a digest mismatch: how tests get the SHA-256 of a fixture
    /// they wrote, so they can load it with `init(ranksFile:expectedSHA256:)`.
    var actualDigest: String? {
        if case .digestMismatch(_, _, let actual) = self { return actual }
        return nil
    }
}
