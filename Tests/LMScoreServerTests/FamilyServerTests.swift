import Foundation
import LMScoreEngine
@testable import LMScoreServer
import Testing

/// A rotary model (Llama layout) behind the HTTP API: the context setting reported by /v1/model, and
/// /score (windows, choices, batching) and /v1/completions working as for GPT-2.
@Suite("Model families over HTTP")
struct FamilyServerTests {
    /// llama-tiny claiming 8192 positions, so the default context (4096) and a set one differ from it,
    /// with GPT-2's vocabulary and the bundled model's ranks file beside it, so /v1/completions has
    /// token text (tokenizer.json for these families is another part).
    static let model: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-family-\(UUID().uuidString)")
        var config = RandomCheckpoint.Preset.llamaTiny.config
        config.maxPositions = 8192
        config.vocabSize = 50257
        var options = RandomCheckpoint.Options()
        options.seed = 3
        try! RandomCheckpoint.write(config: config, options: options, to: url)
        try! FileManager.default.copyItem(at: bundledModel.appendingPathComponent("gpt2.tiktoken"), to: url.appendingPathComponent("gpt2.tiktoken"))
        return url
    }()

    func json(_ object: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self) }

    @Test("/v1/model reports the numerics: transformers by default, llama.cpp when the setting says so")
    func numericsReported() async throws {
        try await withServer(testSettings(model: Self.model)) { server in
            let info = try await server.request("GET", "/v1/model").json()
            #expect(info["numerics"] as? String == "transformers")
        }
        var settings = testSettings(model: Self.model)
        settings.numerics = "llama.cpp"
        try await withServer(settings) { server in
            let info = try await server.request("GET", "/v1/model").json()
            #expect(info["numerics"] as? String == "llama.cpp")
        }
    }

    @Test("/v1/model reports the context: the default min(checkpoint, 4096), or context_length")
    func contextReported() async throws {
        try await withServer(testSettings(model: Self.model)) { server in
            let info = try await server.request("GET", "/v1/model").json()
            #expect(info["model_type"] as? String == "llama")
            #expect(info["context_length"] as? Int == 4096)
            #expect(info["n_positions"] as? Int == 4096)
            #expect(info["max_position_embeddings"] as? Int == 8192)
            #expect(info["context_limited"] as? Bool == true)
        }
        var settings = testSettings(model: Self.model)
        settings.contextLength = 48
        try await withServer(settings) { server in
            let info = try await server.request("GET", "/v1/model").json()
            #expect(info["context_length"] as? Int == 48)

            // Longer than the context: sliding windows.
            let long = (0..<130).map { ($0 * 37) % 50257 }
            let scored = try await server.request("POST", "/score", body: json(["sequences": [long, [1, 2, 3]]]))
            #expect(scored.status == 200, "\(scored)")
            let results = try #require(try scored.json()["results"] as? [[String: Any]])
            #expect((results[0]["windows"] as? Int ?? 0) > 1)
            #expect(results[0]["scored_tokens"] as? Int == 129)

            // Multiple choice: the continuations' positions continue after the context.
            let choices = try await server.request("POST", "/score", body: json([
                "choices": [["context": [5, 6, 7, 8], "continuations": [[9, 10], [11]]]],
            ]))
            #expect(choices.status == 200, "\(choices)")

            // A choice longer than the context is refused with the parameter named.
            let tooLong = try await server.request("POST", "/score", body: json([
                "choices": [["context": Array(repeating: 5, count: 40), "continuations": [Array(repeating: 9, count: 10)]]],
            ]))
            #expect(tooLong.status == 422, "\(tooLong)")

            let completion = try await server.request("POST", "/v1/completions", body: json([
                "prompt": [1, 2, 3, 4], "echo": true, "logprobs": 1, "max_tokens": 1,
            ]))
            #expect(completion.status == 200, "\(completion)")
        }
    }

    @Test("a context_length beyond the checkpoint's positions fails the load with the reason")
    func contextTooLong() async throws {
        var settings = testSettings(model: Self.model)
        settings.contextLength = 9000
        let server = try await TestServer.start(settings, waitUntilReady: false)
        // The service stops with the load error as its reason.
        guard case .failure(let error) = await server.task.result else {
            Issue.record("the service ran with context_length 9000")
            _ = try? await server.stop()
            return
        }
        #expect("\(error)".contains("context 9000 must be between 1 and the checkpoint's 8192 positions"), "\(error)")
    }
}
