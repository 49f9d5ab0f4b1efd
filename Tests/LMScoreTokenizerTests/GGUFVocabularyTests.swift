import Foundation
import LMScoreGGUF
import LMScoreTokenizer
import Testing

/// A GGUF file's vocabulary read as a tokenizer: a small SentencePiece vocabulary whose merges come
/// from its scores, worked by hand; the keys lmscore refuses, by name. llama.cpp's real vocabularies
/// are checked against their .inp/.out files by Scripts/check_hf_tokenizers.sh.
@Suite("GGUF vocabularies")
struct GGUFVocabularyTests {
    static func file(_ metadata: [(String, GGUFWriter.Typed)]) throws -> GGUFFile {
        var writer = GGUFWriter()
        writer.metadata = metadata
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-vocab-\(UUID().uuidString).gguf").path
        try writer.data().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }   // the mapping outlives the name
        return try GGUFFile(path: path)
    }

    /// ids: <unk> 0, <s> 1, </s> 2, ▁ 3, a 4, b 5, ▁a 6, ab 7, ▁ab 8. Scores put ▁ab's splits first
    /// (▁+ab, then ▁a+b), then ▁a's (▁+a), then ab's (a+b).
    static let sentencePiece: [(String, GGUFWriter.Typed)] = [
        ("tokenizer.ggml.model", .string("llama")),
        ("tokenizer.ggml.tokens", .array(["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab"].map { .string($0) })),
        ("tokenizer.ggml.scores", .array([0, 0, 0, -3, -4, -5, -1, -2, -0.5].map { .f32($0) })),
        ("tokenizer.ggml.token_type", .array([2, 3, 3, 1, 1, 1, 1, 1, 1].map { .i32($0) })),
        ("tokenizer.ggml.unknown_token_id", .u32(0)),
        ("tokenizer.ggml.bos_token_id", .u32(1)),
        ("tokenizer.ggml.eos_token_id", .u32(2)),
    ]

    @Test("SentencePiece: merges from scores, the space prefix, BOS added by default, specials, decoding")
    func sentencePieceVocabulary() throws {
        let tokenizer = try HFTokenizer(gguf: Self.file(Self.sentencePiece))
        #expect(tokenizer.formatName == "gguf" && tokenizer.vocabularySize == 9)
        #expect(tokenizer.encode("ab", allowSpecial: true) == [8])       // ▁ a b → ▁a b → ▁ab
        #expect(tokenizer.encode("a", allowSpecial: true) == [6])
        #expect(tokenizer.encode("ba", allowSpecial: true) == [3, 5, 4])  // no merge for ▁b or ba
        #expect(tokenizer.encode("ab</s>", allowSpecial: true) == [8, 2])
        #expect(tokenizer.beginningOfSequence == 1 && tokenizer.addsBeginningOfSequence && tokenizer.endOfText == 2)
        #expect(try tokenizer.decode([8, 3, 5, 4]) == "ab ba")
    }

    @Test("add_bos_token false and add_space_prefix false are read")
    func flags() throws {
        let tokenizer = try HFTokenizer(gguf: Self.file(Self.sentencePiece + [
            ("tokenizer.ggml.add_bos_token", .bool(false)), ("tokenizer.ggml.add_space_prefix", .bool(false))]))
        #expect(!tokenizer.addsBeginningOfSequence)
        #expect(tokenizer.encode("ab", allowSpecial: true) == [7])       // no ▁: a b → ab
    }

    @Test("What lmscore does not read is refused by key", arguments: [
        ("model", "tokenizer.ggml.model"), ("pre", "tokenizer.ggml.pre"), ("no tokens", "tokenizer.ggml.tokens"),
        ("no scores", "tokenizer.ggml.scores"), ("bad bos", "tokenizer.ggml.bos_token_id"), ("no vocabulary", "tokenizer.ggml.model"),
    ])
    func refusals(broken: String, key: String) throws {
        var metadata = Self.sentencePiece
        func set(_ name: String, _ value: GGUFWriter.Typed?) {
            metadata.removeAll { $0.0 == name }
            if let value { metadata.append((name, value)) }
        }
        switch broken {
        case "model": set("tokenizer.ggml.model", .string("bert"))
        case "pre": set("tokenizer.ggml.model", .string("gpt2")); set("tokenizer.ggml.pre", .string("deepseek-llm"))
        case "no tokens": set("tokenizer.ggml.tokens", nil)
        case "no scores": set("tokenizer.ggml.scores", nil)
        case "bad bos": set("tokenizer.ggml.bos_token_id", .u32(99))
        case "no vocabulary": metadata = [("general.architecture", .string("llama"))]
        default: Issue.record("unknown case")
        }
        do {
            _ = try HFTokenizer(gguf: Self.file(metadata))
            Issue.record("\(broken): accepted")
        } catch {
            #expect("\(error)".contains(key), "\(broken): \(error)")
        }
    }
}
