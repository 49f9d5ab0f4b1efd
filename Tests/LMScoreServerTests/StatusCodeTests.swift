import Foundation
import LMScoreEngine
import LMScoreServer
import Testing

/// Every HTTP server test runs one at a time: they share this 2-core machine's CPU (timing
/// assertions), and libmicrohttpd's shim keeps per-process state (see `MultipleServerTests`).
@Suite("HTTP server", .serialized)
struct ServerTests {}

extension ServerTests {
    @Suite("Status codes")
    struct StatusCodes {
        @Test("200: /healthz, /v1/model, /score, HEAD /healthz and /metrics on one keep-alive connection")
        func okRoutes() async throws {
            let rows: [[Int32]] = [[1, 2, 3, 4, 5, 6], [7, 8, 9]]
            let reference = try referenceLogprobs(rows, model: TestModels.tinyModel)
            let config = TestModels.tinyModel.config
            try await withServer(testSettings()) { server in
                let responses = try await server.withConnection { c in
                    [try c.request("GET", "/healthz"), try c.request("GET", "/v1/model"),
                     try c.request("POST", "/score", body: sequencesBody(rows)), try c.request("HEAD", "/healthz"),
                     try c.request("GET", "/metrics")]
                }
                let (health, model, score, head, metrics) = (responses[0], responses[1], responses[2], responses[3], responses[4])
                for response in responses { #expect(!response.closesConnection, "\(response)") }

                #expect(health.status == 200, "\(health)")
                let healthJSON = try health.json()
                #expect(healthJSON["status"] as? String == "ok")
                #expect(healthJSON["model"] as? String == "tiny")

                #expect(model.status == 200, "\(model)")
                let info = try model.json()
                #expect(info["name"] as? String == "tiny")
                #expect(info["n_positions"] as? Int == 64)
                #expect(info["vocab_size"] as? Int == 1000)
                #expect(info["n_layer"] as? Int == 2)
                #expect(info["n_embd"] as? Int == 32)
                #expect(info["n_head"] as? Int == 4)
                #expect(info["dtype"] as? String == "F32")
                #expect(info["parameters"] as? Int == config.parameterCount)

                #expect(score.status == 200, "\(score)")
                #expect(score.header("Content-Type")?.hasPrefix("application/json") == true)
                let scoreJSON = try score.json()
                #expect(scoreJSON["model"] as? String == "tiny")
                #expect((scoreJSON["batch"] as? [String: Any])?["scored_tokens"] as? Int == 7)
                let got = try responseLogprobs(score)
                let difference = try #require(maxDifference(got, reference), "shapes differ: \(got) vs \(reference)")
                #expect(difference <= 1e-4)

                #expect(head.status == 200 && head.body.isEmpty, "\(head)")

                #expect(metrics.status == 200, "\(metrics)")
                #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
                let text = PrometheusText(metrics.text)
                let types = text.types
                for (name, kind) in [
                    ("lmscore_requests_total", "counter"), ("lmscore_tokens_scored_total", "counter"),
                    ("lmscore_request_duration_seconds", "histogram"), ("lmscore_queue_duration_seconds", "histogram"),
                    ("lmscore_forward_duration_seconds", "histogram"), ("lmscore_batch_requests", "histogram"),
                    ("lmscore_batch_tokens", "histogram"), ("lmscore_queue_depth", "gauge"), ("lmscore_forward_tokens", "gauge"),
                    ("lmscore_http_connections_open", "gauge"), ("lmscore_http_connections_refused_total", "counter"),
                    ("lmscore_http_header_timeouts_total", "counter"), ("lmscore_http_requests_in_flight", "gauge"),
                ] {
                    #expect(types[name] == kind, "# TYPE \(name) \(kind) missing from\n\(metrics.text)")
                }
                // Exactly what this one /score did (requests on one connection complete in order, so
                // the counters already include every earlier request of this connection).
                #expect(text.value("lmscore_tokens_scored_total") == 7)
                #expect(text.value("lmscore_batch_requests_count") == 1)
                #expect(text.value("lmscore_batch_requests_sum") == 1)
                #expect(text.value("lmscore_batch_tokens_sum") == 9)
                #expect(text.value("lmscore_forward_duration_seconds_count") == 1)
                #expect(text.value("lmscore_queue_duration_seconds_count") == 1)
                #expect(text.value("lmscore_queue_depth") == 0)
                #expect(text.value("lmscore_forward_tokens") == 0)   // back to 0 before the answer is sent
                #expect((text.value("lmscore_http_connections_open") ?? 0) >= 1)   // this one, at least
                #expect(text.value("lmscore_http_connections_refused_total") == 0)
                // waitUntilReady's /healthz plus /healthz, /v1/model, /score, HEAD /healthz here.
                #expect((text.value("lmscore_requests_total", labelContains: "status=\"200\"") ?? 0) >= 5)
                #expect((text.value("lmscore_request_duration_seconds_count") ?? 0) >= 5)
            }
        }

        @Test("400: a body that is not JSON")
        func malformedJSON() async throws {
            try await withServer(testSettings()) { server in
                for body in [#"{"sequences": [[1, 2,"#, "", "sequences=1,2"] {
                    let response = try await server.request("POST", "/score", body: body)
                    #expect(response.status == 400, "\(body.debugDescription): \(response)")
                    let error = try errorObject(response)
                    #expect(error["type"] as? String == "invalid_request_error")
                    #expect(error["code"] as? String == "malformed_json")
                    #expect(error["param"] is NSNull)
                }
            }
        }

        @Test("422: JSON that cannot be scored, with the JSON path in param")
        func validation() async throws {
            try await withServer(testSettings()) { server in
                let cases: [(body: String, param: String, code: String)] = [
                    (#"{"sequences": [[1, 1000]]}"#, "sequences[0][1]", "invalid_value"),   // vocab is 1000
                    (#"{"sequences": [[1, 2], [3, -4, 5]]}"#, "sequences[1][1]", "invalid_value"),
                    (#"{"sequences": [[1, 2.5]]}"#, "sequences[0][1]", "invalid_type"),
                    (#"{"sequences": [[1, 2]], "bogus": 1}"#, "bogus", "unknown_field"),
                    (#"{"sequences": [[1, 2]], "top_k": 99}"#, "top_k", "invalid_value"),
                    (#"{}"#, "sequences", "missing_field"),
                ]
                for (body, param, code) in cases {
                    let response = try await server.request("POST", "/score", body: body)
                    #expect(response.status == 422, "\(body): \(response)")
                    let error = try errorObject(response)
                    #expect(error["param"] as? String == param, "\(body): \(response)")
                    #expect(error["code"] as? String == code, "\(body): \(response)")
                    #expect(error["type"] as? String == "invalid_request_error")
                }
            }
        }

        @Test("413 by Content-Length before the body is read (no 100 Continue); the limit itself is accepted")
        func tooLargeByContentLength() async throws {
            var settings = testSettings()
            settings.maxBodyBytes = 4096
            try await withServer(settings) { server in
                for length in [4097, 1_000_000] {
                    // Headers only, asking for 100-continue: the answer must be the 413 itself.
                    let response = try await server.withConnection { c in
                        try c.send(HTTPConnection.requestBytes("POST", "/score", headers: [
                            ("Content-Length", String(length)), ("Content-Type", "application/json"), ("Expect", "100-continue"),
                        ]))
                        return try c.readResponse(interim: true)
                    }
                    #expect(response.status == 413, "\(response)")
                    let error = try errorObject(response)
                    #expect(error["code"] as? String == "body_too_large")
                    #expect((error["message"] as? String)?.contains(String(length)) == true, "\(response)")
                }
                // Exactly max_body_bytes is allowed.
                let rows: [[Int32]] = [[5, 6, 7, 8]]
                let compact = sequencesBody(rows)
                let padded = compact + String(repeating: " ", count: 4096 - compact.utf8.count)
                let response = try await server.request("POST", "/score", body: padded)
                #expect(response.status == 200, "\(response)")
                #expect(try maxDifference(responseLogprobs(response), referenceLogprobs(rows, model: TestModels.tinyModel)).map { $0 <= 1e-4 } == true)
            }
        }

        @Test("413 for a chunked body over the limit; a chunked body under it is scored; far over it the connection is cut")
        func tooLargeChunked() async throws {
            var settings = testSettings()
            settings.maxBodyBytes = 4096
            let rows: [[Int32]] = [[10, 20, 30, 40, 50]]
            let compact = Array(sequencesBody(rows).utf8)
            let reference = try referenceLogprobs(rows, model: TestModels.tinyModel)
            try await withServer(settings) { server in
                // Under the limit, in 7-byte chunks.
                let small = try await server.withConnection { c in
                    try c.send(HTTPConnection.requestBytes("POST", "/score", headers: [("Transfer-Encoding", "chunked")])
                               + HTTPConnection.chunked(compact, chunkSize: 7))
                    return try c.readResponse()
                }
                #expect(small.status == 200, "\(small)")
                #expect(try maxDifference(responseLogprobs(small), reference).map { $0 <= 1e-4 } == true)

                // 5,000 bytes of valid JSON (spaces) in 1,000-byte chunks, no Content-Length.
                let big = compact + Array(repeating: UInt8(ascii: " "), count: 5000 - compact.count)
                let tooLarge = try await server.withConnection { c in
                    try c.send(HTTPConnection.requestBytes("POST", "/score", headers: [("Transfer-Encoding", "chunked")])
                               + HTTPConnection.chunked(big, chunkSize: 1000))
                    return try c.readResponse()
                }
                #expect(tooLarge.status == 413, "\(tooLarge)")
                let error = try errorObject(tooLarge)
                #expect(error["code"] as? String == "body_too_large")

                // 40 KB: the server stops reading; whatever the client sees, it is not a 200.
                let huge = compact + Array(repeating: UInt8(ascii: " "), count: 40_000)
                let outcome: String = try await server.withConnection { c in
                    do {
                        try c.send(HTTPConnection.requestBytes("POST", "/score", headers: [("Transfer-Encoding", "chunked")])
                                   + HTTPConnection.chunked(huge, chunkSize: 1000))
                        return "HTTP \(try c.readResponse().status)"
                    } catch let error as HTTPClientError {
                        return "closed: \(error)"
                    }
                }
                #expect(outcome == "HTTP 413" || outcome.hasPrefix("closed"), "\(outcome)")
                let health = try await server.request("GET", "/healthz")
                #expect(health.status == 200)
            }
        }

        @Test("429 with Retry-After when the queued tokens exceed max_queued_tokens")
        func overloaded() async throws {
            var settings = testSettings(model: TestModels.slow)
            settings.maxQueuedTokens = 100
            var generator = TokenGenerator(seed: 429)
            // 6,000 tokens, admitted alone: ~0.5 s of forward in a debug build, long enough for the
            // test to see it running (lmscore_forward_tokens) and to queue two small requests behind it.
            let blocker = generator.rows(count: 3, length: 2000...2000, vocab: 50257)
            let queued = generator.rows(count: 2, length: 30...30, vocab: 50257)      // 60 tokens
            let refused = generator.rows(count: 2, length: 30...30, vocab: 50257)     // 60 more: over 100
            try await withServer(settings) { server in
                async let first = server.request("POST", "/score", body: sequencesBody(blocker))
                try await server.waitForMetric("lmscore_forward_tokens", toBe: 6000)   // the blocker's batch is running
                async let second = server.request("POST", "/score", body: sequencesBody(queued))
                try await server.waitForMetric("lmscore_queue_depth", toBe: 1)   // the second waits in the queue
                let third = try await server.request("POST", "/score", body: sequencesBody(refused))
                let (a, b) = try await (first, second)

                #expect(third.status == 429, "\(third)")
                let error = try errorObject(third)
                #expect(error["type"] as? String == "overloaded_error")
                #expect(error["code"] as? String == "queue_full")
                let retryAfter = try #require(third.header("Retry-After").flatMap { Int($0) }, "no integer Retry-After: \(third)")
                #expect(retryAfter >= 1)
                #expect(third.received < a.received, "the 429 should be immediate, not wait for the running batch")
                #expect(a.status == 200, "\(a)")
                #expect(b.status == 200, "\(b)")
                let metrics = try await server.metrics()
                #expect(metrics.value("lmscore_requests_total", labelContains: "status=\"429\"") == 1)
            }
        }

        @Test("504 when a request waited longer than request_timeout for its batch")
        func requestTimeout() async throws {
            var settings = testSettings(model: TestModels.slow)
            settings.requestTimeout = 0.001
            var generator = TokenGenerator(seed: 504)
            let blocker = generator.rows(count: 3, length: 2000...2000, vocab: 50257)   // ~0.5 s, as above
            let late = generator.rows(count: 1, length: 20...20, vocab: 50257)
            try await withServer(settings) { server in
                async let first = server.request("POST", "/score", body: sequencesBody(blocker))
                try await server.waitForMetric("lmscore_forward_tokens", toBe: 6000)
                let second = try await server.request("POST", "/score", body: sequencesBody(late))
                let a = try await first
                #expect(a.status == 200, "an idle scheduler starts a request at once: \(a)")
                #expect(second.status == 504, "\(second)")
                let error = try errorObject(second)
                #expect(error["type"] as? String == "timeout_error")
                #expect(error["code"] as? String == "request_timeout")
                #expect(error["param"] is NSNull)
            }
        }

        @Test("503 while the model loads (/healthz, /score, /v1/model, /tokenizer_info), 200 once it is ready")
        func loading() async throws {
            let gate = Gate()
            let loader: @Sendable (String) throws -> DecoderModel = { path in
                guard gate.wait(timeout: 15) else { throw TimeoutError(description: "gate never opened") }
                return try Checkpoint.load(directory: URL(fileURLWithPath: path))
            }
            let server = try await TestServer.start(testSettings(), loadModel: loader, waitUntilReady: false)
            do {
                let health = try await server.request("GET", "/healthz")
                #expect(health.status == 503, "\(health)")
                #expect(try health.json() as NSDictionary == ["status": "loading"] as NSDictionary, "\(health)")

                let score = try await server.request("POST", "/score", body: #"{"sequences": [[1, 2, 3]]}"#)
                #expect(score.status == 503, "\(score)")
                let error = try errorObject(score)
                #expect(error["code"] as? String == "loading")
                #expect(error["type"] as? String == "unavailable_error")

                for path in ["/v1/model", "/tokenizer_info"] {
                    let model = try await server.request("GET", path)
                    #expect(model.status == 503, "\(path): \(model)")
                    #expect(try errorObject(model)["code"] as? String == "loading", "\(path)")
                }

                let metrics = try await server.request("GET", "/metrics")
                #expect(metrics.status == 200, "metrics are served while loading: \(metrics)")

                gate.open()
                try await server.waitUntilReady(timeout: 10)
                let after = try await server.request("POST", "/score", body: #"{"sequences": [[1, 2, 3]]}"#)
                #expect(after.status == 200, "\(after)")
                // Which kernel path runs is visible in /v1/model and in lmscore_build_info{kernel}.
                let kernel = try KernelPath.active().rawValue
                #expect(try await server.request("GET", "/v1/model").json()["kernel"] as? String == kernel)
                let exposition = try await server.request("GET", "/metrics").text
                #expect(exposition.contains("lmscore_build_info{kernel=\"\(kernel)\"} 1"), "\(exposition.prefix(3000))")
            } catch {
                gate.open()
                _ = try? await server.stop()
                throw error
            }
            try await server.stop()
        }

        @Test("A model that cannot be loaded makes run() throw, naming the cause, and closes the port")
        func loadFailure() async throws {
            struct Broken: Error, CustomStringConvertible { var description: String { "weights are broken" } }
            let server = try await TestServer.start(testSettings(), loadModel: { _ in throw Broken() }, waitUntilReady: false)
            let task = server.task
            let outcome = try await withTimeout(10, "the failing service") { () -> String in
                do { try await task.value; return "returned" } catch { return "\(error)" }
            }
            #expect(outcome.contains("cannot load model") && outcome.contains("weights are broken"), "\(outcome)")
            let port = server.port
            let refused = try await blocking { () -> Bool in
                do { _ = try HTTPConnection(port: port); return false } catch let error as HTTPClientError { return error.isConnectionRefused }
            }
            #expect(refused)
        }

        @Test("404 for an unknown path, and the connection stays usable")
        func notFound() async throws {
            try await withServer(testSettings()) { server in
                let (missing, posted, health) = try await server.withConnection { c in
                    (try c.request("GET", "/nope"), try c.request("POST", "/v2/score", body: "{}"), try c.request("GET", "/healthz"))
                }
                for response in [missing, posted] {
                    #expect(response.status == 404, "\(response)")
                    let error = try errorObject(response)
                    #expect(error["code"] as? String == "not_found")
                    #expect(error["type"] as? String == "invalid_request_error")
                }
                #expect(health.status == 200, "keep-alive after a 404: \(health)")
            }
        }

        @Test("405 for a wrong method, with an Allow header")
        func methodNotAllowed() async throws {
            try await withServer(testSettings()) { server in
                let cases: [(method: String, path: String, body: String?, allow: String)] = [
                    ("GET", "/score", nil, "POST"), ("PUT", "/score", nil, "POST"), ("POST", "/healthz", "{}", "GET, HEAD"),
                    ("DELETE", "/metrics", nil, "GET, HEAD"), ("POST", "/v1/model", "{}", "GET, HEAD"),
                    ("GET", "/v1/completions", nil, "POST"), ("GET", "/tokenize", nil, "POST"), ("PUT", "/detokenize", nil, "POST"),
                    ("POST", "/tokenizer_info", "{}", "GET, HEAD"),
                ]
                for (method, path, body, allow) in cases {
                    let response = try await server.request(method, path, body: body)
                    #expect(response.status == 405, "\(method) \(path): \(response)")
                    #expect(response.header("Allow") == allow, "\(method) \(path): \(response)")
                    let error = try errorObject(response)
                    #expect(error["code"] as? String == "method_not_allowed")
                }
            }
        }
    }
}
