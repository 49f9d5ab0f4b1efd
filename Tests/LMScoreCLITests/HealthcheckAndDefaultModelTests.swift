import Foundation
import LMScoreTestSupport
import Testing

@Suite("healthcheck and the default model")
struct HealthcheckAndDefaultModelTests {
    static let defaultModel = LMScoreBinary.repositoryRoot.appendingPathComponent("Models/lmscore-gpt2-small-en")
    static var hasDefaultModel: Bool {
        FileManager.default.fileExists(atPath: defaultModel.appendingPathComponent("config.json").path)
    }

    @Test func healthcheckFailsWithOneLineWhenNothingListens() throws {
        // Port 1 on loopback: nothing listens there.
        let result = try lmscore(["healthcheck", "--port", "1", "--timeout", "1"])
        #expect(result.status != 0)
        #expect(result.errLines.count == 1, "\(result)")
        #expect(result.err.contains("cannot connect to 127.0.0.1:1"))
    }

    @Test func healthcheckSucceedsAgainstAServer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeTinyCheckpoint(to: dir.url)
        let port = 18_000 + Int.random(in: 0..<2000)
        let server = Process()
        server.executableURL = try LMScoreBinary.require()
        server.arguments = ["serve", "--model", dir.url.path, "--host", "127.0.0.1", "--port", String(port)]
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var result = try lmscore(["healthcheck", "--port", String(port)])
        for _ in 0..<50 where result.status != 0 {
            Thread.sleep(forTimeInterval: 0.1)
            result = try lmscore(["healthcheck", "--port", String(port)])
        }
        #expect(result.status == 0, "\(result)")
        #expect(result.out.contains("\"status\":\"ok\""))
    }

    @Test("without --model the bundled model is used", .enabled(if: hasDefaultModel, "Models/lmscore-gpt2-small-en not present"))
    func defaultModelIsFound() throws {
        let inspect = try lmscore(["inspect", "--json"])
        #expect(inspect.status == 0, "\(inspect)")
        let info = try inspect.json()
        #expect(info["model"] as? String == "lmscore-gpt2-small-en")
        #expect(number(info["vocab_size"]) == 50257)
        let score = try lmscore(["score"], stdin: Data(#"{"sequences": [[50256, 464, 3290, 318]]}"#.utf8))
        #expect(score.status == 0, "\(score)")
        #expect(try score.json()["model"] as? String == "lmscore-gpt2-small-en")
    }

    @Test("score with texts and tokenize use the bundled model's tokenizer", .enabled(if: hasDefaultModel, "Models/lmscore-gpt2-small-en not present"))
    func textThroughTheCLI() throws {
        let tokenize = try lmscore(["tokenize"], stdin: Data("The cat sat on the mat.".utf8))
        #expect(tokenize.status == 0, "\(tokenize)")
        #expect(tokenize.out.filter { !$0.isWhitespace } == "[464,3797,3332,319,262,2603,13]")
        let byText = try lmscore(["score"], stdin: Data(#"{"texts": ["The cat sat on the mat."], "return_tokens": true}"#.utf8))
        let byIDs = try lmscore(["score"], stdin: Data(#"{"sequences": [[464, 3797, 3332, 319, 262, 2603, 13]]}"#.utf8))
        #expect(byText.status == 0, "\(byText)")
        let row = try #require((try byText.json()["results"] as? [[String: Any]])?.first)
        let reference = try #require((try byIDs.json()["results"] as? [[String: Any]])?.first)
        #expect(row["tokens"] as? [String] == ["The", " cat", " sat", " on", " the", " mat", "."])
        #expect(number(row["sum_logprob"]) == number(reference["sum_logprob"]))
    }
}
