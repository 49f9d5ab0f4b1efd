import Foundation
import LMScoreTestSupport
import Glibc
import LMScoreEngine
import LMScoreServer
import Synchronization
import Testing

extension ServerTests {
    @Suite("Draining")
    struct Draining {
        @Test("Cancelling the service drains: every in-flight request gets 200, new ones 503 with Connection: close, then the port closes")
        func drainInProcess() async throws {
            let clients = 32
            var settings = testSettings(model: TestModels.slow)
            settings.maxBatchTokens = 1024   // ~6 requests per batch: the 32 take ~1.3 s
            var generator = TokenGenerator(seed: 32)
            let requests = (0..<clients).map { _ in generator.rows(count: 1, length: 150...150, vocab: 50257) }
            let checked = stride(from: 0, to: clients, by: 4).map { $0 }
            let references = try Dictionary(uniqueKeysWithValues: checked.map { ($0, try referenceLogprobs(requests[$0], model: TestModels.slowModel)) })

            let server = try await TestServer.start(settings)
            do {
                let port = server.port
                // A keep-alive connection opened before the drain, idle when it starts.
                let idle = try await blocking { try HTTPConnection(port: port) }
                defer { idle.close() }
                let before = try await blocking { try idle.request("GET", "/healthz") }
                #expect(before.status == 200 && !before.closesConnection)

                let firstAnswer = Gate()
                let barrier = Barrier(clients)
                async let answers = onThreads(clients) { i -> (HTTPResponse, closed: Bool) in
                    let c = try HTTPConnection(port: port, timeout: 20)
                    defer { c.close() }
                    barrier.wait()
                    let response = try c.request("POST", "/score", body: sequencesBody(requests[i]))
                    firstAnswer.open()
                    return (response, response.closesConnection ? try c.waitForClose(timeout: 3) : false)
                }
                let answered = try await blocking { firstAnswer.wait(timeout: 15) }
                try #require(answered, "no answer within 15 s")
                let cancelled = ContinuousClock.Instant.now
                server.task.cancel()

                // /healthz turns to 503 "draining" (on a fresh connection) within a moment.
                var health = try await server.request("GET", "/healthz")
                while health.status == 200 && elapsedSeconds(since: cancelled) < 2 {
                    health = try await server.request("GET", "/healthz")
                }
                #expect(health.status == 503, "\(health)")
                #expect(try health.json() as NSDictionary == ["status": "draining"] as NSDictionary, "\(health)")
                #expect(health.closesConnection, "\(health)")
                let drainingSince = health.received

                // A new request on a new connection, and one on the idle keep-alive connection: 503, close.
                let fresh = try await server.request("POST", "/score", body: #"{"sequences": [[1, 2, 3]]}"#)
                let (reused, reusedClosed) = try await blocking { () -> (HTTPResponse, Bool) in
                    let response = try idle.request("POST", "/score", body: #"{"sequences": [[1, 2, 3]]}"#)
                    return (response, try idle.waitForClose(timeout: 3))
                }
                for response in [fresh, reused] {
                    #expect(response.status == 503, "\(response)")
                    #expect(response.closesConnection, "\(response)")
                    #expect(try errorObject(response)["code"] as? String == "draining")
                }
                #expect(reusedClosed, "the server kept the keep-alive connection open after Connection: close")

                var afterDrainStarted = 0
                for (i, result) in await answers.enumerated() {
                    let (response, closed) = try result.get()
                    #expect(response.status == 200, "in-flight request \(i): \(response)")
                    if let reference = references[i] {
                        #expect(try maxDifference(responseLogprobs(response), reference).map { $0 <= 1e-4 } == true)
                    }
                    if response.received > drainingSince {
                        afterDrainStarted += 1
                        #expect(response.closesConnection, "answered while draining without Connection: close: \(response)")
                        #expect(closed, "the server did not close the connection after Connection: close")
                    }
                }
                #expect(afterDrainStarted > 0, "no request was still in flight when draining began: the test proves nothing")

                try await server.stop(timeout: 20)
                print("[timing] drain: \(afterDrainStarted) of \(clients) requests answered after the drain began; stopped \(String(format: "%.2f", elapsedSeconds(since: cancelled))) s after cancel")
                let refused = try await blocking { () -> String in
                    do { _ = try HTTPConnection(port: port); return "connected" } catch let error as HTTPClientError { return error.isConnectionRefused ? "refused" : "\(error)" }
                }
                #expect(refused == "refused", "after drain: \(refused)")
            } catch {
                _ = try? await server.stop()
                throw error
            }
        }

        @Test("Cancelling while the model loads stops promptly (does not wait for the load to finish)")
        func cancelWhileLoading() async throws {
            let gate = Gate()
            let loader: @Sendable (String) throws -> DecoderModel = { path in
                _ = gate.wait(timeout: 15)
                return try Checkpoint.load(directory: URL(fileURLWithPath: path))
            }
            let server = try await TestServer.start(testSettings(), loadModel: loader, waitUntilReady: false)
            let health = try await server.request("GET", "/healthz")
            #expect(health.status == 503, "\(health)")
            let task = server.task
            task.cancel()
            let stopped: Bool? = try? await withTimeout(3, "stopping during load") { _ = try? await task.value; return true }
            // Whatever happened, let the loader finish and the service end before the next test.
            gate.open()
            _ = try? await withTimeout(15, "stopping after the load") { try? await task.value }
            #expect(stopped == true, "run() did not return within 3 s of cancellation while the model was loading (it waits for the load to finish)")
        }

        @Test("SIGTERM to `lmscore serve`: in-flight requests get 200, the process exits 0")
        func sigtermBinary() async throws {
            let server = try await ServeProcess.start(model: TestModels.slow)
            defer { server.kill() }
            let clients = 8
            var generator = TokenGenerator(seed: 15)
            let requests = (0..<clients).map { _ in generator.rows(count: 1, length: 300...300, vocab: 50257) }
            let answers = try await server.sendInFlight(requests)
            let signalled = ContinuousClock.Instant.now
            #expect(kill(server.pid, SIGTERM) == 0)

            for (i, result) in await answers.value.enumerated() {
                let response = try result.get()
                #expect(response.status == 200, "request \(i): \(response)")
                #expect(try responseLogprobs(response).first?.count == 300)
            }
            let exited = try await server.waitForExit(timeout: 10)
            let exitSeconds = elapsedSeconds(since: signalled)
            try #require(exited, "still running 10 s after SIGTERM:\n\(server.log())")
            #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0,
                    "exit \(server.process.terminationStatus):\n\(server.log())")
            // The drain saw the requests in flight.
            let inFlight = server.drainingInFlight()
            #expect((inFlight ?? 0) > 0, "log:\n\(server.log())")
            let refused = try await blocking { () -> Bool in
                do { _ = try HTTPConnection(port: server.port); return false } catch let error as HTTPClientError { return error.isConnectionRefused }
            }
            #expect(refused, "the port still accepts connections after exit")
            print("[timing] SIGTERM with \(inFlight ?? -1) requests in flight: exited \(String(format: "%.2f", exitSeconds)) s later")
        }

        @Test("drain_timeout bounds the drain: past it, the rest are answered 503 and the process exits")
        func drainTimeoutBinary() async throws {
            // ~3 s of queued work, a drain_timeout of 0.3 s.
            let server = try await ServeProcess.start(model: TestModels.slow, environment: ["LMSCORE_DRAIN_TIMEOUT": "0.3"])
            defer { server.kill() }
            var generator = TokenGenerator(seed: 30)
            let requests = (0..<5).map { _ in generator.rows(count: 1, length: 2000...2000, vocab: 50257) }
            let answers = try await server.sendInFlight(requests)
            let signalled = ContinuousClock.Instant.now
            #expect(kill(server.pid, SIGTERM) == 0)
            let exited = try await server.waitForExit(timeout: 15)
            let exitSeconds = elapsedSeconds(since: signalled)
            try #require(exited, "still running 15 s after SIGTERM:\n\(server.log())")
            #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0,
                    "exit \(server.process.terminationStatus):\n\(server.log())")
            var statuses: [Int] = []
            for result in await answers.value {
                switch result {
                case .success(let response):
                    statuses.append(response.status)
                    if response.status != 200 {
                        #expect(response.status == 503, "\(response)")
                        #expect(try errorObject(response)["code"] as? String == "draining")
                    }
                case .failure(let error):
                    Issue.record("an in-flight request got no answer: \(error)")
                }
            }
            #expect(exitSeconds < 1.5, "exited \(exitSeconds) s after SIGTERM with drain_timeout 0.3 s (statuses \(statuses))")
            if ProcessInfo.processInfo.environment["LMSCORE_TEST_DEBUG"] != nil { print(server.log()) }
            print("[timing] drain_timeout 0.3 s: exited \(String(format: "%.2f", exitSeconds)) s after SIGTERM; statuses \(statuses)")
        }

        @Test("Drain deadline under load, in-process: requests still scoring when drain_timeout passes get 503, their late results are dropped, the service stops (run under Scripts/sanitize.sh thread)")
        func drainDeadlineUnderLoad() async throws {
            // 24 requests of 1,000 tokens on the slow model, two a batch: ~2 s of work, cut by a
            // 0.25 s drain_timeout, so some are answered 200, the rest 503 while their tasks still run —
            // the tasks then finish and hand in answers nobody may read (the races this guards against:
            // a task writing the request's fields while the loop thread reads them, a late answer
            // writing to a closed eventfd).
            var settings = testSettings(model: TestModels.slow)
            settings.maxBatchTokens = 2000
            settings.drainTimeout = 0.25
            var generator = TokenGenerator(seed: 25)
            let requests = (0..<24).map { _ in generator.rows(count: 1, length: 1000...1000, vocab: 50257) }
            let server = try await TestServer.start(settings)
            let port = server.port
            let barrier = Barrier(requests.count + 1)
            async let answers = onThreads(requests.count) { i -> HTTPResponse in
                let c = try HTTPConnection(port: port, timeout: 20)
                defer { c.close() }
                try c.sendRequest("POST", "/score", body: sequencesBody(requests[i]))
                barrier.wait()
                return try c.readResponse()
            }
            try await blocking { barrier.wait() }
            // All in: the first batch runs, the rest (at least 20) wait.
            try await server.waitForMetric("lmscore_queue_depth", timeout: 20) { $0 >= 20 }
            let seconds = try await server.stop(timeout: 10)
            var statuses: [Int: Int] = [:]
            for (i, result) in await answers.enumerated() {
                let response = try result.get()
                statuses[response.status, default: 0] += 1
                if response.status != 200 {
                    #expect(response.status == 503, "request \(i): \(response)")
                    #expect(try errorObject(response)["code"] as? String == "draining")
                }
            }
            #expect(statuses[503, default: 0] > 0, "every request finished before the deadline: the test proves nothing (\(statuses))")
            #expect(seconds < 2, "stopping took \(seconds) s with drain_timeout 0.25 s")
            // The batch running at the deadline still ends, and its tasks hand in answers after the
            // server stopped (dropped); the queued rest were withdrawn, not scored. Wait for both, so that
            // the late hand-ins happen inside the test (and under ThreadSanitizer).
            try await server.waitForMetric("lmscore_queue_depth", toBe: 0, timeout: 60)
            try await server.waitForMetric("lmscore_forward_tokens", toBe: 0, timeout: 60)
            let scored = server.localMetrics.value("lmscore_tokens_scored_total") ?? 0
            #expect(scored < Double(requests.count * 999), "the queued requests were scored after the deadline answered them 503")
            try await Task.sleep(for: .milliseconds(200))
            print("[timing] drain deadline in-process: \(statuses) in \(String(format: "%.2f", seconds)) s")
        }
    }

    @Suite("Several servers in one process")
    struct MultipleServers {
        @Test("libmicrohttpd's messages go to the logger of the server they concern")
        func logTargetPerServer() async throws {
            let logA = CapturedLog(), logB = CapturedLog()
            let a = try await TestServer.start(testSettings(), logger: logA.logger(level: .warning))
            let b: TestServer
            do { b = try await TestServer.start(testSettings(), logger: logB.logger(level: .warning)) } catch {
                _ = try? await a.stop()
                throw error
            }
            // A malformed header line makes MHD answer 400 and log "Error processing request …" on server A.
            let garbage = try? await a.withConnection { c -> HTTPResponse in
                try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n")
                return try c.readResponse()
            }
            let deadline = ContinuousClock.Instant.now + .seconds(2)
            func mhdLines(_ log: CapturedLog) -> [String] { log.all.filter { $0.contains("libmicrohttpd") } }
            while mhdLines(logA).isEmpty && mhdLines(logB).isEmpty && ContinuousClock.Instant.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let (linesA, linesB) = (mhdLines(logA), mhdLines(logB))
            // Stop A first: its daemon logs through B's server object, which must still be alive.
            _ = try? await a.stop()
            _ = try? await b.stop()
            #expect(garbage?.status == 400)
            try #require(!linesA.isEmpty || !linesB.isEmpty, "MHD logged nothing for a malformed request")
            #expect(!linesA.isEmpty, "server A's MHD message did not reach A's logger")
            #expect(linesB.isEmpty, "server A's MHD message went to server B's logger: \(linesB)")
        }
    }
}

/// `lmscore serve` as a child process on 127.0.0.1 and a port it picks (read from its log).
final class ServeProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let scratch: URL
    private let errURL: URL

    var pid: pid_t { process.processIdentifier }

    private init(process: Process, port: Int, scratch: URL, errURL: URL) {
        self.process = process
        self.port = port
        self.scratch = scratch
        self.errURL = errURL
    }

    deinit { try? FileManager.default.removeItem(at: scratch) }

    func log() -> String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Starts the binary and waits for /healthz 200.
    static func start(model: URL, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> ServeProcess {
        let binary = try LMScoreBinary.require(sourceLocation: sourceLocation)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-serve-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer { try? errHandle.close() }

        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--model", model.path, "--port", "0", "--host", "127.0.0.1"]
        process.currentDirectoryURL = scratch   // no Config/lmscore.json here
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LMSCORE_") }
            .merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        func log() -> String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }
        func fail(_ message: String) -> Error {
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            return TimeoutError(description: "\(message):\n\(log())")
        }

        // The bound port, from the log line "listening on 127.0.0.1:PORT".
        let started = ContinuousClock.Instant.now
        var port: Int?
        while port == nil && elapsedSeconds(since: started) < 15 && process.isRunning {
            let text = log()
            if let range = text.range(of: #"listening on 127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                port = text[range].split(separator: ":").last.flatMap { Int($0) }
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        guard let port else { throw fail("no 'listening on 127.0.0.1:PORT' line") }
        while elapsedSeconds(since: started) < 15 {
            let status = try? await blocking { try HTTPConnection(port: port).request("GET", "/healthz").status }
            if status == 200 { return ServeProcess(process: process, port: port, scratch: scratch, errURL: errURL) }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw fail("/healthz never answered 200")
    }

    /// Sends each request on its own connection; returns once all are sent (plus 100 ms, so they are
    /// decoded and queued), with a task that collects the answers.
    func sendInFlight(_ requests: [[[Int32]]]) async throws -> Task<[Result<HTTPResponse, any Error>], Never> {
        let port = self.port
        let barrier = Barrier(requests.count)
        let sent = Counter()
        let answers = Task {
            await onThreads(requests.count) { i in
                let c = try HTTPConnection(port: port, timeout: 20)
                defer { c.close() }
                barrier.wait()
                try c.sendRequest("POST", "/score", body: sequencesBody(requests[i]))
                sent.increment()
                return try c.readResponse()
            }
        }
        let start = ContinuousClock.Instant.now
        while sent.count < requests.count && elapsedSeconds(since: start) < 10 {
            try await Task.sleep(for: .milliseconds(2))
        }
        try await Task.sleep(for: .milliseconds(100))
        return answers
    }

    /// Waits for the process to end; false if it is still running after `timeout` seconds.
    func waitForExit(timeout: Double) async throws -> Bool {
        let start = ContinuousClock.Instant.now
        while process.isRunning && elapsedSeconds(since: start) < timeout {
            try await Task.sleep(for: .milliseconds(20))
        }
        return !process.isRunning
    }

    /// N from the log line "draining: N requests in flight".
    func drainingInFlight() -> Int? {
        let text = log()
        return text.range(of: #"draining: [0-9]+ requests in flight"#, options: .regularExpression)
            .flatMap { Int(text[$0].split(separator: " ")[1]) }
    }

    func kill() {
        if process.isRunning { Glibc.kill(pid, SIGKILL) }
    }
}
