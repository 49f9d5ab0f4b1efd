import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreServer
import Logging
import Synchronization
import Testing

// MARK: - Checkpoints

/// Random checkpoints written once per test process into a temporary directory (removed at exit).
enum TestModels {
    static let root: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-servertests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TestModels.root) }
        return url
    }()

    /// vocab 1000, n_positions 64, 2 layers of 32: every forward pass is well under a millisecond.
    static let tiny: URL = write(.tiny, name: "tiny")
    /// vocab 50257, n_positions 128: the LM head makes it ~50 times slower per token than `tiny`;
    /// used where requests must queue behind a running batch.
    static let slow: URL = write(.tinyGPT2Vocab, name: "tiny-gpt2vocab")

    static let tinyModel: DecoderModel = try! Checkpoint.load(directory: tiny)
    static let slowModel: DecoderModel = try! Checkpoint.load(directory: slow)

    private static func write(_ preset: RandomCheckpoint.Preset, name: String) -> URL {
        let url = root.appendingPathComponent(name)
        var options = RandomCheckpoint.Options()
        options.seed = 11
        try! RandomCheckpoint.write(config: preset.config, options: options, to: url)
        return url
    }
}

/// Deterministic token rows.
struct TokenGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func rows(count: Int, length: ClosedRange<Int>, vocab: Int) -> [[Int32]] {
        (0..<count).map { _ in
            let n = length.lowerBound + Int(next() % UInt64(length.count))
            return (0..<n).map { _ in Int32(next() % UInt64(vocab)) }
        }
    }
}

/// `{"sequences": [[…], …]}`
func sequencesBody(_ rows: [[Int32]]) -> String {
    "{\"sequences\": [" + rows.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ", ") + "]}"
}

/// Scores `rows` in-process, alone, on `model`: the reference an HTTP answer must match.
func referenceLogprobs(_ rows: [[Int32]], model: DecoderModel) throws -> [[Double?]] {
    let result = try Scorer(model: model).score(ScoringRequest(rows: .sequences(rows)))
    return result.rows.map { $0.positions.map { $0?.logprob } }
}

/// The per-row `logprobs` of a `/score` response.
func responseLogprobs(_ response: HTTPResponse) throws -> [[Double?]] {
    let json = try response.json()
    guard let results = json["results"] as? [[String: Any]] else {
        throw HTTPClientError.malformed("no results in \(response.text.prefix(300))")
    }
    return try results.map { row in
        guard let logprobs = row["logprobs"] as? [Any] else { throw HTTPClientError.malformed("no logprobs in a row") }
        return logprobs.map { ($0 as? NSNumber)?.doubleValue }
    }
}

/// Largest |a − b| over aligned positions, or nil when the shapes or the null positions differ.
func maxDifference(_ a: [[Double?]], _ b: [[Double?]]) -> Double? {
    guard a.count == b.count else { return nil }
    var worst = 0.0
    for (x, y) in zip(a, b) {
        guard x.count == y.count else { return nil }
        for (p, q) in zip(x, y) {
            switch (p, q) {
            case (nil, nil): continue
            case let (p?, q?): worst = max(worst, abs(p - q))
            default: return nil
            }
        }
    }
    return worst
}

// MARK: - Prometheus text

struct PrometheusText {
    struct Sample { var name: String; var labels: String; var value: Double }
    let text: String
    let samples: [Sample]

    init(_ text: String) {
        self.text = text
        samples = text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            if let brace = series.firstIndex(of: "{") {
                return Sample(name: String(series[..<brace]), labels: String(series[brace...]), value: value)
            }
            return Sample(name: String(series), labels: "", value: value)
        }
    }

    /// The sum over every series named `name` whose labels contain `labelContains` (all when empty).
    func value(_ name: String, labelContains: String = "") -> Double? {
        let matching = samples.filter { $0.name == name && (labelContains.isEmpty || $0.labels.contains(labelContains)) }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    /// Metric families declared by `# TYPE name kind`.
    var types: [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            if parts.count >= 4 { out[String(parts[2])] = String(parts[3]) }
        }
        return out
    }
}

// MARK: - Threads

/// Runs blocking `body` on its own thread (socket calls must not tie up Swift's cooperative pool,
/// which the server under test needs).
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs `body(0..<count)` on `count` threads at once and returns every outcome in order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async -> [Result<T, any Error>] {
    let results = Mutex<[Result<T, any Error>?]>(Array(repeating: nil, count: count))
    let remaining = Atomic<Int>(count)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        for i in 0..<count {
            let thread = Thread {
                let result = Result { try body(i) }
                results.withLock { $0[i] = result }
                if remaining.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 { continuation.resume() }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
    return results.withLock { $0.map { $0! } }
}

/// All `parties` threads leave `wait()` together (or after `timeout`).
final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let parties: Int
    private var arrived = 0

    init(_ parties: Int) { self.parties = parties }

    func wait(timeout: Double = 10) {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        if arrived >= parties {
            condition.broadcast()
            return
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while arrived < parties && condition.wait(until: deadline) {}
    }
}

/// A counter shared between threads.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    var count: Int { value.load(ordering: .sequentiallyConsistent) }
}

/// A one-shot gate a loader can block on.
final class Gate: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let opened = Atomic<Bool>(false)
    func open() { if !opened.exchange(true, ordering: .sequentiallyConsistent) { semaphore.signal() } }
    /// Returns false if the gate stayed shut for `timeout` seconds.
    func wait(timeout: Double) -> Bool { semaphore.wait(timeout: .now() + timeout) == .success }
}

struct TimeoutError: Error, CustomStringConvertible {
    let description: String
}

/// Awaits `operation` for at most `seconds`; throws `TimeoutError` (and leaves it running) after that.
func withTimeout<T: Sendable>(_ seconds: Double, _ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        slot.withLock { $0 = continuation }
        let resume: @Sendable (Result<T, any Error>) -> Void = { result in
            slot.withLock { $0.take() }?.resume(with: result)
        }
        Task {
            do { resume(.success(try await operation())) } catch { resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            resume(.failure(TimeoutError(description: "\(what) did not finish within \(seconds) s")))
        }
    }
}

func elapsedSeconds(since start: ContinuousClock.Instant) -> Double {
    let (s, atto) = (ContinuousClock.Instant.now - start).components
    return Double(s) + Double(atto) * 1e-18
}

// MARK: - Logging

/// Keeps every message at or above `level` (and prints nothing), so tests can read the server's log.
final class CapturedLog: @unchecked Sendable {
    let messages = Mutex<[String]>([])
    var all: [String] { messages.withLock { $0 } }

    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "lmscore-test") { _ in CapturingHandler(log: self) }
        logger.logLevel = level
        return logger
    }

    struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.messages.withLock { $0.append("\(event.level): \(event.message)") }
        }
    }
}

/// Warnings and errors only, to keep the test output short.
func quietLogger() -> Logger {
    var logger = Logger(label: "lmscore-test")
    logger.logLevel = .warning
    return logger
}

// MARK: - Running a service in-process

/// Settings for a test server on 127.0.0.1 and a free port.
func testSettings(model: URL = TestModels.tiny) -> ServerSettings {
    var settings = ServerSettings()
    settings.host = "127.0.0.1"
    settings.port = 0
    settings.model = model.path
    settings.logLevel = "warning"
    return settings
}

/// An `LMScoreService` running in a task of this process.
final class TestServer: Sendable {
    let service: LMScoreService
    let task: Task<Void, any Error>
    let port: Int

    private init(service: LMScoreService, task: Task<Void, any Error>, port: Int) {
        self.service = service
        self.task = task
        self.port = port
    }

    /// Starts the service; waits for its port and, if `waitUntilReady`, for `/healthz` 200.
    static func start(
        _ settings: ServerSettings, logger: Logger = quietLogger(),
        loadModel: (@Sendable (String) throws -> DecoderModel)? = nil, waitUntilReady: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestServer {
        let service = loadModel.map { LMScoreService(settings: settings, logger: logger, loadModel: $0) }
            ?? LMScoreService(settings: settings, logger: logger)
        let task = Task { try await service.run() }
        // A hang guard, not a speed check: with the whole suite running in parallel on 2 cores (kernel
        // tests, 124M-parameter models) the service's task can wait many seconds for a thread.
        let deadline = ContinuousClock.Instant.now + .seconds(60)
        var port: Int?
        while port == nil && ContinuousClock.Instant.now < deadline {
            port = service.port
            if port == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        guard let port else {
            task.cancel()
            throw TimeoutError(description: "the service did not bind a port within 60 s")
        }
        let server = TestServer(service: service, task: task, port: port)
        if waitUntilReady { try await server.waitUntilReady() }
        return server
    }

    func waitUntilReady(timeout: Double = 60) async throws {
        let start = ContinuousClock.Instant.now
        while elapsedSeconds(since: start) < timeout {
            if let response = try? await request("GET", "/healthz"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TimeoutError(description: "/healthz did not answer 200 within \(timeout) s")
    }

    /// Cancels the service task (which drains) and waits for it; returns the seconds it took.
    @discardableResult
    func stop(timeout: Double = 20) async throws -> Double {
        let start = ContinuousClock.Instant.now
        task.cancel()
        let task = self.task
        _ = try await withTimeout(timeout, "stopping the service") { try? await task.value }
        return elapsedSeconds(since: start)
    }

    /// One request on a fresh connection.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> HTTPResponse {
        let port = self.port
        return try await blocking {
            let connection = try HTTPConnection(port: port)
            defer { connection.close() }
            return try connection.request(method, path, headers: headers, body: body)
        }
    }

    /// Runs blocking `body` with a fresh connection on its own thread.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (HTTPConnection) throws -> T) async throws -> T {
        let port = self.port
        return try await blocking {
            let connection = try HTTPConnection(port: port)
            defer { connection.close() }
            return try body(connection)
        }
    }

    func metrics() async throws -> PrometheusText {
        let response = try await request("GET", "/metrics")
        guard response.status == 200 else { throw HTTPClientError.malformed("/metrics answered \(response)") }
        return PrometheusText(response.text)
    }
}

/// Starts a server, runs `body`, and always stops the server (also when `body` throws).
func withServer(
    _ settings: ServerSettings, logger: Logger = quietLogger(),
    loadModel: (@Sendable (String) throws -> DecoderModel)? = nil,
    _ body: (TestServer) async throws -> Void
) async throws {
    let server = try await TestServer.start(settings, logger: logger, loadModel: loadModel)
    do {
        try await body(server)
    } catch {
        _ = try? await server.stop()
        throw error
    }
    try await server.stop()
}

/// The error object of an error response, with the shape checked: exactly
/// `{"error": {"message": string, "type": string, "param": string|null, "code": string}}`.
func errorObject(_ response: HTTPResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    #expect(response.header("Content-Type")?.hasPrefix("application/json") == true, "\(response)", sourceLocation: sourceLocation)
    let json = try response.json()
    #expect(Set(json.keys) == ["error"], "\(response)", sourceLocation: sourceLocation)
    let error = try #require(json["error"] as? [String: Any], "\(response)", sourceLocation: sourceLocation)
    #expect(Set(error.keys) == ["message", "type", "param", "code"], "\(response)", sourceLocation: sourceLocation)
    #expect((error["message"] as? String)?.isEmpty == false, "\(response)", sourceLocation: sourceLocation)
    #expect(error["type"] is String, "\(response)", sourceLocation: sourceLocation)
    #expect(error["code"] is String, "\(response)", sourceLocation: sourceLocation)
    #expect(error["param"] is String || error["param"] is NSNull, "\(response)", sourceLocation: sourceLocation)
    return error
}
