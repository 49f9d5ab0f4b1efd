import Foundation
import LMScoreTestSupport
import LMScoreTokenizer
import Testing

/// Loading `gpt2.tiktoken`: the digest check, and a clear error for each way a file can be wrong.
@Suite struct RanksFileTests {
    @Test func findsTheRanksFileInAModelDirectory() throws {
        #expect(GPT2Tokenizer.find(inModelDirectory: Fixture.modelDirectory) == Fixture.ranksFile)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        #expect(GPT2Tokenizer.find(inModelDirectory: scratch.url) == nil)
    }

    @Test func missingFile() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let file = scratch.url.appendingPathComponent("gpt2.tiktoken")
        #expect(throws: TokenizerError.missingFile(file)) { try GPT2Tokenizer(ranksFile: file) }
        #expect("\(TokenizerError.missingFile(file))".hasPrefix("\(file.path): no such file"))
    }

    /// One extra byte: same tokens, but not the file GPT-2's digest names. Loading it anyway takes its
    /// own digest, given explicitly.
    @Test func wrongDigestNamesBothDigests() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let file = try scratch.write("gpt2.tiktoken", Data(contentsOf: Fixture.ranksFile) + Data("\n".utf8))
        var caught: TokenizerError?
        do { _ = try GPT2Tokenizer(ranksFile: file) } catch { caught = error }
        let error = try #require(caught)
        let actual = try #require(error.actualDigest)
        #expect(error == .digestMismatch(file, expected: GPT2Tokenizer.ranksSHA256, actual: actual))
        #expect(actual.count == 64 && actual != GPT2Tokenizer.ranksSHA256)
        #expect("\(error)" == "\(file.path): SHA-256 is \(actual), expected \(GPT2Tokenizer.ranksSHA256) (a different or damaged ranks file?)")

        let explicit = try GPT2Tokenizer(ranksFile: file, expectedSHA256: actual.uppercased())
        #expect(explicit.encode("it's  a test", allowSpecial: false) == Fixture.tokenizer.encode("it's  a test", allowSpecial: false))
    }

    /// Writes `text` as a ranks file and loads it with its own digest (from the mismatch error).
    func load(_ text: String) throws(TokenizerError) -> GPT2Tokenizer {
        let scratch = try! TemporaryDirectory()
        defer { scratch.remove() }
        let file = try! scratch.write("ranks.tiktoken", Data(text.utf8))
        do {
            return try GPT2Tokenizer(ranksFile: file, expectedSHA256: String(repeating: "0", count: 64))
        } catch let error where error.actualDigest != nil {
            return try GPT2Tokenizer(ranksFile: file, expectedSHA256: error.actualDigest!)
        }
    }

    /// The error's line and reason, or nil if loading did not fail on a line.
    func lineError(_ text: String) -> (line: Int, reason: String)? {
        do { _ = try load(text) } catch {
            if case .malformedLine(let file, let line, let reason) = error {
                #expect("\(error)" == "\(file.path): line \(line): \(reason)")
                return (line, reason)
            }
            Issue.record("expected a malformed line, got \(error)")
        }
        return nil
    }

    @Test func malformedLinesAreNamedByNumber() {
        #expect(lineError("IQ== 0\nIg==\n")?.line == 2)
        #expect(lineError("IQ== 0\nIg==\n")?.reason == "expected \"<base64 token> <rank>\", found 1 field")
        #expect(lineError("IQ== 0\nIg== 1 2\n")?.reason == "expected \"<base64 token> <rank>\", found 3 fields")
        // blank lines are skipped (as load_tiktoken_bpe does) but still counted
        #expect(lineError("IQ== 0\n\nnot*base64 1\n")?.line == 3)
        #expect(lineError("IQ== 0\n\nnot*base64 1\n")?.reason == "\"not*base64\" is not base64 of a token")
        #expect(lineError("IQ== 0\nIg== one\n")?.reason == "rank \"one\" is not a non-negative integer")
        #expect(lineError("IQ== 0\nIg== -1\n")?.reason == "rank \"-1\" is not a non-negative integer")
        #expect(lineError("IQ== 0\nIQ== 1\n")?.reason == "token IQ== repeats line 1")
        #expect(lineError("IQ== 0\nIg== 0\n")?.reason == "rank 0 is given to two tokens")
        #expect(lineError("IQ== 50256\n")?.reason == "rank 50256 is not below 50256, the id of <|endoftext|>")
    }

    @Test func ranksThatAreNotAByteLevelVocabulary() {
        func reason(_ text: String) -> String? {
            do { _ = try load(text) } catch {
                if case .invalidVocabulary(_, let reason) = error { return reason }
                Issue.record("expected an invalid vocabulary, got \(error)")
            }
            return nil
        }
        #expect(reason("") == "no ranks (empty file)")
        #expect(reason("IQ== 0\nIg== 2\n") == "no token has rank 1, but ranks go up to 2")
        #expect(reason("IQ== 0\nIg== 1\n") == "byte 0x00 has no rank (byte-level BPE needs all 256)")
    }

    /// A vocabulary of its own: the 256 bytes, then "ab" and "abc". Merges go by the rank of the joined
    /// bytes, lowest first, the leftmost pair on a tie.
    @Test func smallVocabularyMergesLowestRankLeftmostFirst() throws {
        var lines = (0 ... 255).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        lines.append("\(Data("ab".utf8).base64EncodedString()) 256")
        lines.append("\(Data("abc".utf8).base64EncodedString()) 257")
        let tokenizer = try load(lines.joined(separator: "\n") + "\n")
        // abcab → (ab)cab → (ab)c(ab) → (abc)(ab)
        #expect(tokenizer.encode("abcab", allowSpecial: false) == [257, 256])
        #expect(tokenizer.encode("abc abc", allowSpecial: false) == [257, 32, 257])  // " abc" → " ", (ab), c → " ", (abc)
        #expect(try tokenizer.decode([257, 256, 50256]) == "abcab<|endoftext|>")
        #expect(throws: TokenizerError.unknownTokenID(258, position: 1)) { try tokenizer.decode([0, 258]) }
        #expect(tokenizer.tokenBytes(258) == nil)
    }
}
