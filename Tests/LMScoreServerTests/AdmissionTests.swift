import Foundation
import LMScoreServer
import Testing

extension ServerTests {
    @Suite("Bodies held and clients gone")
    struct Admission {
        /// A valid `/score` body padded with JSON whitespace to `bytes`: large on the wire, tiny once parsed.
        static func paddedBody(bytes: Int) -> [UInt8] {
            let json = Array(#"{"sequences": [[1, 2, 3, 4]]}"#.utf8)
            return json + [UInt8](repeating: UInt8(ascii: " "), count: bytes - json.count)
        }

        static func head(_ path: String, _ headers: [(String, String)]) -> [UInt8] {
            var text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            for (name, value) in headers { text += "\(name): \(value)\r\n" }
            return Array((text + "\r\n").utf8)
        }

        @Test("max_body_bytes_in_flight: a body that does not fit is refused 429 before it is read; the budget comes back when bodies are decoded")
        func bodyBudget() async throws {
            var settings = testSettings()
            settings.maxBodyBytesInFlight = 10 << 20
            // A's body waits for B, C and a scored request to be answered; beside the other suites that can
            // take longer than the default 10 s body timeout, which would close A (seen once: EPIPE on A's send).
            // The body timeout has its own test.
            settings.bodyTimeout = 300
            let big = Self.paddedBody(bytes: 6 << 20)
            try await withServer(settings) { server in
                let port = server.port
                // A holds 6 MiB of the 10: its headers, then 1 KiB of its body, then nothing for now.
                let a = try await blocking { try HTTPConnection(port: port, timeout: 20) }
                try await blocking { try a.send(Self.head("/score", [("Content-Length", "\(big.count)")]) + big.prefix(1024)) }
                // A hang guard, not a speed check (the whole suite shares the 2 cores).
                do {
                    try await server.waitForMetric("lmscore_http_body_bytes_in_flight", toBe: Double(big.count), timeout: 60)
                } catch {
                    let m = server.localMetrics
                    Issue.record("A's body was not reserved: in flight \(m.value("lmscore_http_requests_in_flight") ?? -1), refused \(m.value("lmscore_http_bodies_refused_total") ?? -1), unanswered \(m.value("lmscore_requests_unanswered_total") ?? -1), answered \(m.value("lmscore_requests_total") ?? -1)")
                    throw error
                }

                // B announces another 6 MiB: refused from its headers alone (its body is never sent).
                let refused = try await blocking { () -> (HTTPResponse, Bool) in
                    let b = try HTTPConnection(port: port, timeout: 20)
                    defer { b.close() }
                    try b.send(Self.head("/score", [("Content-Length", "\(big.count)")]))
                    let response = try b.readResponse()
                    return (response, try b.waitForClose(timeout: 3))
                }
                // C is chunked: its size is unknown, so it needs max_body_bytes (8 MiB), which does not fit either.
                let chunked = try await blocking { () -> HTTPResponse in
                    let c = try HTTPConnection(port: port, timeout: 20)
                    defer { c.close() }
                    try c.send(Self.head("/score", [("Transfer-Encoding", "chunked")]))
                    return try c.readResponse()
                }
                for response in [refused.0, chunked] {
                    #expect(response.status == 429, "\(response)")
                    #expect(response.header("Retry-After") == "1", "\(response)")
                    let error = try errorObject(response)
                    #expect(error["code"] as? String == "body_budget_full")
                    #expect(error["type"] as? String == "overloaded_error")
                    #expect((error["message"] as? String)?.contains("max_body_bytes_in_flight") == true)
                }
                #expect(refused.1, "the refused connection was kept open with its body unread")
                // A small body still fits beside A's.
                let small = try await server.request("POST", "/score", body: #"{"sequences": [[5, 6]]}"#)
                #expect(small.status == 200, "\(small)")

                // A's body completes: scored, and its bytes go back once decoded.
                let answered = try await blocking { () -> HTTPResponse in
                    try a.send(Array(big.dropFirst(1024)))
                    return try a.readResponse()
                }
                a.close()
                #expect(answered.status == 200, "\(answered)")
                try await server.waitForMetric("lmscore_http_body_bytes_in_flight", toBe: 0)
                let retried = try await blocking { () -> HTTPResponse in
                    let b = try HTTPConnection(port: port, timeout: 20)
                    defer { b.close() }
                    try b.send(Self.head("/score", [("Content-Length", "\(big.count)")]) + big)
                    return try b.readResponse()
                }
                #expect(retried.status == 200, "\(retried)")
                #expect(server.localMetrics.value("lmscore_http_bodies_refused_total") == 2)
                #expect(server.localMetrics.value("lmscore_requests_total", labelContains: "status=\"429\"") == 2)
            }
        }

        @Test("Requests whose clients hang up while queued are dropped unscored: the next request does not wait for them")
        func departedClientsAreNotScored() async throws {
            var generator = TokenGenerator(seed: 499)
            // The blocker is admitted alone (~0.5 s of forward in a debug build); the 20 queued requests
            // would be 10,000 tokens more (~3 batches) if they were scored.
            let blocker = generator.rows(count: 3, length: 2000...2000, vocab: 50257)
            let departed = (0..<20).map { _ in generator.rows(count: 1, length: 500...500, vocab: 50257) }
            let last = generator.rows(count: 1, length: 200...200, vocab: 50257)
            // The blocker is scored twice and must take as long the second time: no prefix cache.
            var settings = testSettings(model: TestModels.slow)
            settings.prefixCacheBytes = 0
            try await withServer(settings) { server in
                let port = server.port
                // Each alone, for the bound below.
                let blockerStart = ContinuousClock.Instant.now
                _ = try await server.request("POST", "/score", body: sequencesBody(blocker))
                let blockerAlone = elapsedSeconds(since: blockerStart)
                let lastStart = ContinuousClock.Instant.now
                _ = try await server.request("POST", "/score", body: sequencesBody(last))
                let lastAlone = elapsedSeconds(since: lastStart)

                let start = ContinuousClock.Instant.now
                async let first = server.request("POST", "/score", body: sequencesBody(blocker))
                try await server.waitForMetric("lmscore_forward_tokens", toBe: 6000)
                let connections = try await blocking {
                    try departed.map { rows in
                        let c = try HTTPConnection(port: port, timeout: 20)
                        try c.sendRequest("POST", "/score", body: sequencesBody(rows))
                        return c
                    }
                }
                try await server.waitForMetric("lmscore_queue_depth", toBe: 20)
                for c in connections { c.close() }
                try await server.waitForMetric("lmscore_requests_cancelled_total", toBe: 20)
                try await server.waitForMetric("lmscore_queue_depth", toBe: 0)
                let answer = try await server.request("POST", "/score", body: sequencesBody(last))
                let total = elapsedSeconds(since: start)
                let blockerAnswer = try await first
                #expect(blockerAnswer.status == 200 && answer.status == 200, "\(blockerAnswer) \(answer)")
                #expect(total <= 1.5 * (blockerAlone + lastAlone),
                        "blocker + the last request took \(total) s; alone \(blockerAlone) + \(lastAlone) s")
                print("[timing] departed clients: blocker + last \(String(format: "%.3f", total)) s, alone \(String(format: "%.3f", blockerAlone)) + \(String(format: "%.3f", lastAlone)) s")
                try await server.waitForMetric("lmscore_requests_unanswered_total", toBe: 20)
                let tokensScored = server.localMetrics.value("lmscore_tokens_scored_total")
                #expect(tokensScored == Double(2 * (5997 + 199)), "the departed requests' tokens were scored: \(tokensScored.map { "\($0)" } ?? "-")")
            }
        }
    }
}
