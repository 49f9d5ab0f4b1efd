import Foundation
import LMScoreEngine
import LMScoreServer
import Testing

private func json(_ object: Any) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

/// A response body with what differs from one call to the next (`id`, `created`) blanked.
private func comparable(_ response: HTTPResponse) -> String {
    response.text
        .replacingOccurrences(of: #""id":"cmpl-[^"]*""#, with: #""id":"""#, options: .regularExpression)
        .replacingOccurrences(of: #""created":[0-9]+"#, with: #""created":0"#, options: .regularExpression)
}

@Suite("Prefix cache over HTTP")
struct PrefixCacheServerTests {
    /// What lm-eval sends for a multiple-choice task (token-id prompts sharing a few-shot prefix,
    /// echo, top-1, a next token), a `choices` request and a `sequences` request.
    static let bodies: [(String, String)] = {
        var generator = TokenGenerator(seed: 5)
        let shots = generator.rows(count: 1, length: 30...30, vocab: 1000)[0]
        let questions = generator.rows(count: 2, length: 6...9, vocab: 1000)
        let answers = generator.rows(count: 4, length: 1...3, vocab: 1000)
        let prompts = questions.flatMap { q in answers.map { shots + q + $0 } }
        return [
            ("/v1/completions", json(["model": "lmscore-gpt2-small-en", "prompt": prompts, "echo": true, "logprobs": 1, "max_tokens": 1, "temperature": 0])),
            ("/v1/completions", json(["model": "lmscore-gpt2-small-en", "prompt": Array(prompts.reversed()), "echo": true, "logprobs": 3, "max_tokens": 0])),
            ("/score", json(["choices": [["context": shots + questions[1], "continuations": answers]], "top_k": 2])),
            ("/score", json(["sequences": prompts + [shots], "top_k": 4])),
        ]
    }()

    /// `bodies` answered by a server with the cache off (all 200): what the cached server must answer,
    /// byte for byte. `check` then runs on that server.
    static func uncachedResponses(then check: (TestServer) async throws -> Void = { _ in }) async throws -> [String] {
        var off = testSettings(model: bundledModel)
        off.prefixCacheBytes = 0
        var expected: [String] = []
        try await withServer(off) { server in
            for (path, body) in bodies {
                let response = try await server.request("POST", path, body: body)
                #expect(response.status == 200, "\(response)")
                expected.append(comparable(response))
            }
            try await check(server)
        }
        return expected
    }

    /// Sends `bodies` once more, expecting the responses `uncachedResponses` gave.
    static func expectSameResponses(_ expected: [String], from server: TestServer, round: String) async throws {
        for (i, (path, body)) in bodies.enumerated() {
            let response = try await server.request("POST", path, body: body)
            #expect(comparable(response) == expected[i], "\(round) request \(i)")
        }
    }

    @Test("cache on and off: the same response bytes, cold and warm; metrics count hits and misses; /v1/model shows the budget")
    func sameResponses() async throws {
        var on = testSettings(model: bundledModel)
        on.prefixCacheBytes = 32 << 20
        let expected = try await Self.uncachedResponses { server in
            let metrics = try await server.metrics()
            #expect(metrics.value("lmscore_prefix_cache_hit_tokens_total") == 0)
            #expect(metrics.value("lmscore_prefix_cache_bytes") == 0)
            #expect(try await server.request("GET", "/v1/model").json()["prefix_cache_bytes"] as? Int == 0)
        }
        try await withServer(on) { server in
            #expect(try await server.request("GET", "/v1/model").json()["prefix_cache_bytes"] as? Int == 32 << 20)
            for round in ["cold", "warm"] {
                try await Self.expectSameResponses(expected, from: server, round: round)
            }
            let metrics = try await server.metrics()
            let hits = try #require(metrics.value("lmscore_prefix_cache_hit_tokens_total"))
            let misses = try #require(metrics.value("lmscore_prefix_cache_miss_tokens_total"))
            #expect(hits > misses, "the warm round and most of the cold one come from the cache")
            #expect(misses > 0)
            let bytes = try #require(metrics.value("lmscore_prefix_cache_bytes"))
            #expect(bytes > 0 && bytes <= Double(32 << 20))
            #expect(metrics.value("lmscore_prefix_cache_budget_bytes") == Double(32 << 20))
            #expect(metrics.value("lmscore_prefix_cache_evictions_total") == 0)
            #expect(metrics.types["lmscore_prefix_cache_hit_tokens_total"] == "counter")
        }
    }

    @Test("a budget of a few positions: evictions counted, the same response bytes")
    func evictions() async throws {
        var small = testSettings(model: bundledModel)
        let perToken = PrefixCache(budgetBytes: 1, config: try Checkpoint.load(directory: bundledModel).config).bytesPerToken
        small.prefixCacheBytes = 40 * perToken
        let expected = try await Self.uncachedResponses()
        try await withServer(small) { server in
            for round in ["first", "second"] {
                try await Self.expectSameResponses(expected, from: server, round: round)
            }
            let metrics = try await server.metrics()
            #expect(try #require(metrics.value("lmscore_prefix_cache_evictions_total")) > 0)
            #expect(try #require(metrics.value("lmscore_prefix_cache_bytes")) <= Double(40 * perToken))
        }
    }

    @Test("prefix_cache_bytes: 0 turns it off, a negative or non-integer value is refused, the default is 1/8 of the memory")
    func setting() throws {
        func resolve(_ environment: [String: String] = [:], _ overrides: [String: String] = [:]) throws -> ServerSettings {
            try ServerSettings.resolve(configPath: nil, environment: environment, overrides: overrides)
        }
        #expect(try resolve([:], ["prefix_cache_bytes": "0"]).prefixCacheBytes == 0)
        #expect(try resolve(["LMSCORE_PREFIX_CACHE_BYTES": "1048576"]).prefixCacheBytes == 1 << 20)
        for bad in ["-1", "1.5", "lots"] {
            #expect(throws: ServerSettings.Invalid.self) { try resolve([:], ["prefix_cache_bytes": bad]) }
        }
        #expect(ServerSettings().prefixCacheBytes == PrefixCache.defaultBudget(memoryBytes: ServerSettings.machineMemory))
        #expect(PrefixCache.defaultBudget(memoryBytes: 16 << 30) == 2 << 30)
        #expect(PrefixCache.defaultBudget(memoryBytes: 256 << 30) == 8 << 30)
    }
}
