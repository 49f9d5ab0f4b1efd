import Foundation

/// GPT-2's byte-level BPE tokenizer, giving the same ids as tiktoken's `r50k_base` / `"gpt2"` encoding:
/// text is split into pieces by the r50k pattern (`Pretokenizer`), each piece's UTF-8 bytes are merged
/// by rank (`BytePairMerger`), and `<|endoftext|>` is id 50256.
///
/// A value of this type is immutable after loading: share one between threads freely. Each call keeps
/// its scratch memory to itself. There is no piece → ids cache: most pieces of English text are a
/// token already (one hash lookup), and a per-call `[[UInt8]: [Int32]]` cache for the rest was measured
/// to halve the speed (allocating and hashing the keys costs more than merging a short piece).
public struct GPT2Tokenizer: Sendable {
    /// The id of `<|endoftext|>`, the only special token.
    public static let endOfText: Int32 = 50256
    /// The text of the special token, which `encode(_:allowSpecial: true)` turns into `endOfText`.
    public static let endOfTextString = "<|endoftext|>"
    /// The name of the ranks file in a model directory.
    public static let ranksFileName = "gpt2.tiktoken"
    /// SHA-256 of GPT-2's ranks file (tiktoken's `r50k_base.tiktoken`, whisper's `gpt2.tiktoken`).
    public static let ranksSHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"

    let vocabulary: Vocabulary

    /// Ids are `0 ..< vocabularySize`: the ranks file's tokens, then `<|endoftext|>` (50257 for GPT-2).
    public var vocabularySize: Int { Int(GPT2Tokenizer.endOfText) + 1 }

    /// Loads GPT-2's ranks file and checks that it is exactly that file (its SHA-256).
    public init(ranksFile: URL) throws(TokenizerError) {
        try self.init(ranksFile: ranksFile, expectedSHA256: GPT2Tokenizer.ranksSHA256)
    }

    /// Loads a ranks file other than GPT-2's (a test fixture, a smaller vocabulary), which must have the
    /// SHA-256 given: there is deliberately no way to load ranks unchecked. Its ranks must be `0 ..< n`
    /// with n ≤ 50256 and include all 256 single bytes; ids from n to 50255 are then unknown.
    public init(ranksFile: URL, expectedSHA256: String) throws(TokenizerError) {
        vocabulary = try RanksFile.load(ranksFile, expectedSHA256: expectedSHA256)
    }

    /// `gpt2.tiktoken` in a model directory, if it is there.
    public static func find(inModelDirectory directory: URL) -> URL? {
        let file = directory.appendingPathComponent(ranksFileName)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return nil
        }
        return file
    }
}
