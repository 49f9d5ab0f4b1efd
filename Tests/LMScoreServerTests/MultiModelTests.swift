import Foundation
import LMScoreAPI
import LMScoreEngine
import Synchronization
import Testing
@testable import LMScoreServer

/// Two models behind one server (`--model a=… --model b=…`), over a real socket: the listing, the
/// `model` choice, the summed memory, comparisons with `reference`, and a batching that serves both.
extension ServerTests {
    @Suite("Several models")
    struct MultiModel {
        /// A second `tiny`-shaped model (another seed): the same vocabulary, so comparable with `tiny`.
        static let other: URL = {
            let url = TestModels.root.appendingPathComponent("tiny-seed12")
            var options = RandomCheckpoint.Options()
            options.seed = 12
            try! RandomCheckpoint.write(config: RandomCheckpoint.Preset.tiny.config, options: options, to: url)
            return url
        }()
        static let otherModel: DecoderModel = try! Checkpoint.load(directory: other)

        static func settings() -> ServerSettings {
            var settings = testSettings()
            settings.model = "a=\(TestModels.tiny.path),b=\(Self.other.path)"
            return settings
        }

        /// Equal up to the bits Foundation's JSON parser loses (it reads "-7.188526974418712" as
        /// -7.188526974418716: a few ulps; the server writes the shortest exact form),
        /// with nulls in the same places.
        func same(_ a: [Double?], _ b: [Double?]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { x, y in
                switch (x, y) {
                case (nil, nil): return true
                case let (x?, y?): return abs(x - y) <= 1e-14 * max(1, abs(y))
                default: return false
                }
            }
        }

        func same(_ a: [[Double?]], _ b: [[Double?]]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { same($0, $1) } }

        /// A JSON array of numbers and nulls.
        func numbers(_ value: Any?) throws -> [Double?] {
            try #require(value as? [Any], "not an array: \(String(describing: value))").map { ($0 as? NSNumber)?.doubleValue }
        }

        static func body(_ fields: [String: Any]) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: fields), as: UTF8.self)
        }

        @Test("/v1/models lists both, /v1/model sums their weights, `model` picks one (default the first), an unknown one is 404")
        func listingAndChoice() async throws {
            let rows = [[Int32]](arrayLiteral: [5, 9, 200, 17, 3, 999, 0, 41])
            try await withServer(Self.settings()) { server in
                let list = try await server.request("GET", "/v1/models").json()
                let ids = (list["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
                #expect(ids == ["a", "b"])
                let info = try await server.request("GET", "/v1/model").json()
                let models = try #require(info["models"] as? [[String: Any]])
                #expect(models.compactMap { $0["name"] as? String } == ["a", "b"])
                let each = models.compactMap { $0["weight_bytes"] as? Int }
                #expect(each.count == 2 && each.allSatisfy { $0 > 0 })
                #expect(info["weight_bytes_total"] as? Int == each.reduce(0, +))
                #expect(info["name"] as? String == "a")

                let byDefault = try await server.request("POST", "/score", body: sequencesBody(rows))
                #expect(same(try responseLogprobs(byDefault), try referenceLogprobs(rows, model: TestModels.tinyModel)))
                #expect(try byDefault.json()["model"] as? String == "a")
                let b = try await server.request("POST", "/score", body: Self.body(["sequences": rows, "model": "b"]))
                #expect(same(try responseLogprobs(b), try referenceLogprobs(rows, model: Self.otherModel)))
                #expect(try b.json()["model"] as? String == "b")

                let unknown = try await server.request("POST", "/score", body: Self.body(["sequences": rows, "model": "c"]))
                #expect(unknown.status == 404)
                let error = try errorObject(unknown)
                #expect(error["code"] as? String == "model_not_found" && error["param"] as? String == "model")
                // The server keeps serving.
                #expect(try await server.request("POST", "/score", body: sequencesBody(rows)).status == 200)
            }
        }

        @Test("/score with reference: every two-model field, the bits Scorer.compare gives, batch.kld; reference errors")
        func comparison() async throws {
            let rows: [[Int32]] = [(0..<40).map { Int32(($0 * 7 + 3) % 1000) }, (0..<150).map { Int32(($0 * 13 + 1) % 1000) }]
            let expected = Scorer(model: TestModels.tinyModel).compare(
                batch: [ScoringRequest(rows: .sequences(rows), statistics: [.entropy, .rank])], reference: Scorer(model: Self.otherModel))[0]
            try await withServer(Self.settings()) { server in
                let response = try await server.request("POST", "/score", body: Self.body(
                    ["sequences": rows, "reference": "b", "statistics": ["entropy", "rank"]]))
                #expect(response.status == 200, "\(response)")
                let json = try response.json()
                #expect(json["model"] as? String == "a" && json["reference"] as? String == "b")
                let results = try #require(json["results"] as? [[String: Any]])
                let comparison = try #require(expected.comparison)
                for (r, result) in results.enumerated() {
                    let positions = comparison.rows[r].positions
                    #expect(same(try numbers(result["logprobs"]), expected.rows[r].positions.map { $0?.logprob }))
                    #expect(same(try numbers(result["kl"]), positions.map { $0?.kl }))
                    #expect(same(try numbers(result["delta_p"]), positions.map { $0?.deltaP }))
                    #expect(same(try numbers(result["reference_logprobs"]), positions.map { $0?.reference.logprob }))
                    #expect(same(try numbers(result["cross_entropy"]), positions.map { $0?.crossEntropy }))
                    #expect(same(try numbers(result["entropy"]), expected.rows[r].positions.map { $0?.entropy }))
                    let sameTop = try #require(result["same_top"] as? [Any])
                    #expect(sameTop.map { $0 as? Bool } == positions.map { $0?.sameTop })
                    #expect(same([(result["binoculars"] as? NSNumber)?.doubleValue], [comparison.rows[r].binoculars]))
                    #expect(same([(result["fast_detect_gpt"] as? NSNumber)?.doubleValue], [comparison.rows[r].fastDetectGPT]))
                }
                let kld = try #require((json["batch"] as? [String: Any])?["kld"] as? [String: Any])
                #expect(kld["positions"] as? Int == 39 + 149)
                let kl = try #require(kld["kl_divergence"] as? [String: Any])
                #expect(same([(kl["mean"] as? NSNumber)?.doubleValue], [comparison.summary?.klMean.value]))
                #expect(Set((kl["percentiles"] as? [String: Any])?.keys.map { $0 } ?? []) == ["99.9", "99", "95", "90", "10", "5", "1", "0.1"])
                for key in ["delta_p", "same_top", "perplexity", "reference_perplexity", "ln_perplexity_ratio", "ln_perplexity_correlation"] {
                    #expect(kld[key] != nil, "batch.kld.\(key)")
                }

                for (fields, status, param) in [
                    (["reference": "zzz"], 404, "reference"),
                    (["reference": "a"], 422, "reference"),
                    (["reference": "b", "model": "b"], 422, "reference"),
                ] as [([String: Any], Int, String)] {
                    var body: [String: Any] = ["sequences": rows]
                    body.merge(fields) { $1 }
                    let refused = try await server.request("POST", "/score", body: Self.body(body))
                    #expect(refused.status == status, "\(fields): \(refused)")
                    #expect(try errorObject(refused)["param"] as? String == param)
                }
            }
        }

        @Test("two models whose tokenizers differ: 422 tokenizer_mismatch naming the difference")
        func tokenizerMismatch() async throws {
            // The same checkpoint twice, once with GPT-2's ranks beside it (a tokenizer) and once without.
            let withRanks = TestModels.root.appendingPathComponent("gpt2vocab-with-ranks")
            if !FileManager.default.fileExists(atPath: withRanks.path) {
                try FileManager.default.copyItem(at: TestModels.slow, to: withRanks)
                try FileManager.default.copyItem(at: bundledModel.appendingPathComponent("gpt2.tiktoken"),
                                                 to: withRanks.appendingPathComponent("gpt2.tiktoken"))
            }
            var settings = testSettings()
            settings.model = "ranks=\(withRanks.path),bare=\(TestModels.slow.path)"
            try await withServer(settings) { server in
                let response = try await server.request("POST", "/score", body: Self.body(["sequences": [[1, 2, 3]], "reference": "bare"]))
                #expect(response.status == 422)
                let error = try errorObject(response)
                #expect(error["code"] as? String == "tokenizer_mismatch" && error["param"] as? String == "reference")
                #expect((error["message"] as? String)?.contains("the model has a tokenizer (gpt2), the reference none") == true, "\(error)")
                // `model` picks the tokenizer of /tokenize too: one model has GPT-2's, the other none.
                let tokenized = try await server.request("POST", "/tokenize", body: Self.body(["text": "Hello world", "model": "ranks"]))
                let ids = try tokenized.json()["tokens"] as? [Int]
                #expect(tokenized.status == 200 && ids == [15496, 995], "\(tokenized)")
                let bare = try await server.request("POST", "/tokenize", body: Self.body(["text": "Hello world", "model": "bare"]))
                let code = try errorObject(bare)["code"] as? String
                #expect(bare.status == 422 && code == "tokenizer_unavailable", "\(bare)")
            }
        }
    }
}

/// The batching of several models: one queue per model (and per compared pair), served in turn.
@Suite("Per-model queues")
struct ModelQueuesTests {
    @Test("round-robin: a long queue of one model takes every other batch while another model waits")
    func rotation() {
        var queues = ModelQueues<Int>()
        let a = ModelKey(model: "a"), b = ModelKey(model: "b"), ab = ModelKey(model: "a", reference: "b")
        for i in 0..<5 { queues.append(i, key: a) }
        queues.append(100, key: b)
        queues.append(200, key: ab)
        var served: [(ModelKey, [Int])] = []
        while !queues.isEmpty {
            var taken: [Int] = []
            // One element per batch (a budget of one).
            guard let key = queues.takeBatch({ element in
                if !taken.isEmpty { return (accept: false, batched: false) }
                taken.append(element)
                return (accept: true, batched: true)
            }) else { break }
            served.append((key, taken))
        }
        #expect(served.map(\.0) == [a, b, ab, a, a, a, a])
        #expect(served.map(\.1) == [[0], [100], [200], [1], [2], [3], [4]])
    }

    @Test("consumed but unbatched elements (timed out) move on to the next key; remove and removeAll reach every queue")
    func skipsAndRemovals() {
        var queues = ModelQueues<Int>()
        queues.append(1, key: ModelKey(model: "a"))
        queues.append(2, key: ModelKey(model: "b"))
        queues.append(3, key: ModelKey(model: "b"))
        let key = queues.takeBatch { element in (accept: true, batched: element != 1) }
        #expect(key == ModelKey(model: "b") && queues.isEmpty)
        queues.append(4, key: ModelKey(model: "a"))
        queues.append(5, key: ModelKey(model: "b"))
        #expect(queues.remove(where: { $0 == 5 }) == 5 && queues.count == 1)
        #expect(queues.removeAll() == [4] && queues.isEmpty)
    }

    @Test("the scheduler: a model with a long queue does not starve another's request")
    func schedulerServesBoth() async throws {
        // The scenario needs slow's first request still running while five more queue behind it. Beside
        // other tests this task may be held up until that request is done; then the queue never forms,
        // and the scenario is set up again with a first request twice as long.
        for attempt in 0..<4 {
            guard let finished = try await starvationScenario(longTokens: 24_000 << attempt) else { continue }
            #expect(finished.first == "slow-long")
            let tinyAt = try #require(finished.firstIndex(of: "tiny"))
            #expect(tinyAt <= 2, "tiny waited behind \(tinyAt - 1) of slow's queued batches: \(finished)")
            return
        }
        Issue.record("slow's first request never outlasted the queueing of five more (4 attempts)")
    }

    /// `slow` (vocab 50257) busy with a long first request, four more queued behind it, then one for
    /// `tiny`: the order the six finish in, or nil when the long one finished before the queue formed.
    func starvationScenario(longTokens: Int) async throws -> [String]? {
        let metrics = ServerMetrics()
        let scheduler = BatchScheduler(scorers: [("slow", Scorer(model: TestModels.slowModel)), ("tiny", Scorer(model: TestModels.tinyModel))],
                                       maxBatchTokens: 128, maxQueuedTokens: 1 << 22, requestTimeout: 600, metrics: metrics)
        let order = FinishOrder()
        func submit(_ name: String, model: String, tokens: Int) -> Task<Void, any Error> {
            Task {
                let row = (0..<tokens).map { Int32(($0 * 31 + 7) % 1000) }
                _ = try await scheduler.submit(ScoringRequest(rows: .sequences([row])), model: model)
                order.append(name)
            }
        }
        func longOneDone() -> Bool { order.names.contains("slow-long") }
        var tasks = [submit("slow-long", model: "slow", tokens: longTokens)]
        try await waitFor {   // the long one runs
            longOneDone() || PrometheusText(String(decoding: metrics.render(), as: UTF8.self)).value("lmscore_forward_tokens") ?? 0 > 0
        }
        for i in 1...4 {
            tasks.append(submit("slow-\(i)", model: "slow", tokens: 128))
            try await waitFor {
                if longOneDone() { return true }
                return await scheduler.queueLength == i
            }
        }
        tasks.append(submit("tiny", model: "tiny", tokens: 128))
        try await waitFor {
            if longOneDone() { return true }
            return await scheduler.queueLength == 5
        }
        let formed = !longOneDone()
        for task in tasks { try await task.value }
        return formed ? order.names : nil
    }

    final class FinishOrder: Sendable {
        private let list = Mutex<[String]>([])
        func append(_ name: String) { list.withLock { $0.append(name) } }
        var names: [String] { list.withLock { $0 } }
    }

    func waitFor(timeout: Double = 60, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { throw TimeoutError(description: "condition not met in \(timeout) s") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
