import Foundation
import Glibc
import LMScoreEngine
import LMScoreServer
import Testing

/// Regression tests for what `Scripts/hardening/run.sh` found: headers trickled a byte at a time
/// held their connection forever (MHD's timeout counts inactivity only), and at `connection_limit`
/// new clients waited in the listen backlog until an idle connection timed out instead of being refused.
extension ServerTests {
    @Suite("Hardening")
    struct Hardening {
        @Test("Headers trickled slower than connection_timeout allows are cut off; a keep-alive connection still works")
        func headerDeadline() async throws {
            var settings = testSettings()
            settings.connectionTimeout = 1
            try await withServer(settings) { server in
                let port = server.port
                // One byte every 200 ms: never 1 s of inactivity, so only a deadline can stop it.
                let outcome = try await blocking { () -> (closedAfter: Double?, sent: Int) in
                    let c = try HTTPConnection(port: port)
                    let bytes = HTTPConnection.requestBytes("GET", "/healthz", headers: [("X-Padding", String(repeating: "p", count: 40))])
                    let start = ContinuousClock.Instant.now
                    if let sent = try c.trickleUntilClosed(bytes, pause: 0.2) { return (elapsedSeconds(since: start), sent) }
                    return (nil, bytes.count)
                }
                let closedAfter = try #require(outcome.closedAfter, "headers trickled for \(outcome.sent) bytes and the connection stayed open")
                #expect(closedAfter >= 0.9 && closedAfter < 3, "closed after \(closedAfter) s")
                let timeouts = server.localMetrics.value("lmscore_http_header_timeouts_total")
                #expect(timeouts == 1)

                // A keep-alive connection that sends its next request within connection_timeout is unaffected,
                // however long the first request took to be answered.
                let (first, second) = try await server.withConnection { c -> (HTTPResponse, HTTPResponse) in
                    let first = try c.request("POST", "/score", body: #"{"sequences": [[1, 2, 3]]}"#)
                    usleep(600_000)
                    let second = try c.request("GET", "/healthz")
                    return (first, second)
                }
                #expect(first.status == 200 && second.status == 200 && !second.closesConnection, "\(first) \(second)")
                let health = try await server.request("GET", "/healthz")
                #expect(health.status == 200)
            }
        }

        @Test("At connection_limit a new connection is closed at once (not left in the backlog); a freed slot serves again")
        func connectionLimitRefusal() async throws {
            var settings = testSettings()
            settings.connectionLimit = 4
            settings.connectionTimeout = 30
            try await withServer(settings) { server in
                let port = server.port
                // The readiness probes' connections are closed by the client, but the server counts them
                // until its thread sees their EOF (late on a loaded machine): start from zero.
                try await server.waitForOpenConnections(0)
                let held = try await blocking {
                    let held = try (0..<4).map { _ in try HTTPConnection(port: port) }
                    for c in held { _ = try c.request("GET", "/healthz") }   // all four are accepted and open
                    return held
                }
                defer { held.forEach { $0.close() } }
                let refusedWithin = try await blocking { () -> [Double?] in
                    var refusedWithin: [Double?] = []
                    for _ in 0..<3 {
                        let start = ContinuousClock.Instant.now
                        let extra = try HTTPConnection(port: port, timeout: 3)
                        var closed: Bool
                        do {
                            try extra.sendRequest("GET", "/healthz")
                            closed = try extra.waitForClose(timeout: 2)
                        } catch let error as HTTPClientError {
                            if case .send = error { closed = true } else { throw error }
                        }
                        refusedWithin.append(closed ? elapsedSeconds(since: start) : nil)
                        extra.close()
                    }
                    return refusedWithin
                }
                for refused in refusedWithin {
                    let seconds = try #require(refused, "a connection over the limit got neither an answer nor a close within 2 s: \(refusedWithin)")
                    #expect(seconds < 1, "refused only after \(seconds) s")
                }
                let refusedCount = server.localMetrics.value("lmscore_http_connections_refused_total")
                #expect(refusedCount == 3)

                held[0].close()
                try await server.waitForOpenConnections(3)
                let after = try await server.request("GET", "/healthz")
                #expect(after.status == 200, "\(after)")
            }
        }
    }
}

extension TestServer {
    /// The server's metrics read in-process (a /metrics request would itself be a connection).
    var localMetrics: PrometheusText { PrometheusText(String(decoding: service.metrics.render(), as: UTF8.self)) }

    /// Waits until the server's metric `name` (read in-process, not over a socket that would itself
    /// count) shows `value`.
    func waitForMetric(_ name: String, toBe value: Double, timeout: Double = 10) async throws {
        try await waitForMetric(name, timeout: timeout, describing: "\(value)") { $0 == value }
    }

    /// Waits until the server's metric `name` satisfies `condition`.
    func waitForMetric(_ name: String, timeout: Double = 10, describing expected: String = "as expected",
                       _ condition: (Double) -> Bool) async throws {
        let start = ContinuousClock.Instant.now
        var seen: Double?
        while elapsedSeconds(since: start) < timeout {
            seen = localMetrics.value(name)
            if let seen, condition(seen) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TimeoutError(description: "\(name) is \(seen.map { "\($0)" } ?? "absent"), not \(expected), after \(timeout) s")
    }

    func waitForOpenConnections(_ count: Int) async throws {
        try await waitForMetric("lmscore_http_connections_open", toBe: Double(count))
    }
}
