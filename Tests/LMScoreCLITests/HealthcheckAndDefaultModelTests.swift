import Foundation
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
}
