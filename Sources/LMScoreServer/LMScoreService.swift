import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer
import Logging
import ServiceLifecycle
import Synchronization

/// The lmscore HTTP service: routes, the model's lifecycle, and draining. Runs under
/// swift-service-lifecycle: the port opens at once, the model loads in the background (`/healthz` says
/// "loading"), and on SIGTERM/SIGINT the service drains — `/healthz` says "draining", new requests get
/// 503 with `Connection: close`, every in-flight request is answered — then returns.
public final class LMScoreService: Service, HTTPServer.Handler, @unchecked Sendable {
    /// The service's lifecycle. Transitions: loading → ready → draining → stopped
    /// (loading → failed when the model cannot be loaded).
    enum State {
        case loading
        case ready(Ready)
        case draining(Ready?)
        case failed(String)
        case stopped
    }

    struct Ready {
        /// Every served model; the first is the default (`model`, `tokenizer`).
        let registry: ModelRegistry
        let scheduler: BatchScheduler

        /// The matrix kernels' CPU path the products run on.
        let kernel: KernelPath

        var model: DecoderModel { registry.first.model }
        var modelName: String { registry.first.name }
        /// The default model's tokenizer (GPT-2 ranks or tokenizer.json), for text input and token
        /// strings; nil for a model without one.
        var tokenizer: (any TextTokenizer)? { registry.first.tokenizer }
    }

    public let settings: ServerSettings
    public let metrics = ServerMetrics()
    /// Unix time the service started (`created` in `/v1/models`).
    private let startedAt = Int(Date().timeIntervalSince1970)
    private let logger: Logger
    private let state = Locked<State>(.loading)
    /// Where request bodies are decoded and answers encoded: off the cooperative pool, a few at a time.
    private let bodyWorkers = BodyWorkers(width: ProcessInfo.processInfo.activeProcessorCount)
    private let boundPort = Locked<Int?>(nil)
    /// Loads the model; replaceable so tests can inject a slow or failing loader.
    private let loadModel: @Sendable (String) throws -> DecoderModel

    public init(settings: ServerSettings, logger: Logger, loadModel: (@Sendable (String) throws -> DecoderModel)? = nil) {
        self.settings = settings
        self.logger = logger
        let context = settings.contextLength, quantization = settings.quantization
        let numerics = Numerics(rawValue: settings.numerics) ?? .transformers   // checked when parsed
        self.loadModel = loadModel ?? {
            try Checkpoint.load(directory: URL(fileURLWithPath: $0), context: context, quantization: quantization).with(numerics: numerics)
        }
    }

    /// The port actually bound (useful with port 0), once listening.
    public var port: Int? { boundPort.withLock { $0 } }

    public func run() async throws {
        let http = HTTPServer(limits: HTTPServer.Limits(
            host: settings.host, port: settings.port, connectionLimit: settings.connectionLimit,
            connectionTimeout: settings.connectionTimeout, connectionMemory: settings.connectionMemory,
            listenBacklog: settings.listenBacklog, maxBodyBytes: settings.maxBodyBytes,
            maxBodyBytesInFlight: settings.maxBodyBytesInFlight, bodyTimeout: settings.bodyTimeout),
            handler: self, logger: logger, metrics: metrics)
        try http.start()
        boundPort.withLock { $0 = http.port }
        logger.info("listening on \(settings.host):\(http.port); loading model \(settings.model ?? "-")")

        // Load while watching for shutdown: whichever comes first ends the wait (a SIGTERM during a
        // slow load drains at once; the loader thread's late result is discarded).
        let loaded = await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.load() }
            group.addTask { try? await gracefulShutdown() }
            await group.next()
            group.cancelAll()
            return state.withLock { if case .ready = $0 { true } else { false } }
        }
        if loaded { try? await gracefulShutdown() }
        await drain(http)
        if case .failed(let reason) = state.withLock({ $0 }) {
            throw ServiceError(description: reason)
        }
    }

    public struct ServiceError: Error, CustomStringConvertible {
        public let description: String
    }

    private func load() async {
        let entries = settings.models
        guard !entries.isEmpty else {
            state.withLock { $0 = .failed("no model configured") }
            return
        }
        // The kernel path first: a bad LMSCORE_KERNEL fails the start in one line, before any loading.
        let kernel: KernelPath
        do {
            kernel = try KernelPath.active()
        } catch {
            logger.error("\(error)")
            state.withLock { $0 = .failed("\(error)") }
            return
        }
        logger.info("matrix kernels: \(kernel.summary)")
        metrics.recordKernel(kernel.rawValue)
        let loadModel = self.loadModel
        let fallbackRanks = settings.tokenizer.map { URL(fileURLWithPath: $0) }
        let start = ContinuousClock.Instant.now
        let maxBatchTokens = settings.maxBatchTokens
        // The prefix cache's budget is shared out equally among the served models (one cache each).
        let prefixCacheBytes = settings.prefixCacheBytes / max(1, entries.count)
        guard let outcome = await runOnThread({ () throws -> ModelRegistry in
            try ModelRegistry.load(entries, loadModel: loadModel, fallbackRanks: fallbackRanks, maxBatchTokens: maxBatchTokens,
                                   prefixCacheBytes: prefixCacheBytes)
        }) else { return }  // shutting down
        switch outcome {
        case .success(let registry):
            ComputeThreads.set(settings.threads)
            for entry in registry.entries { metrics.prefixCache.record(entry.scorer.prefixCache.statistics, model: entry.name) }
            let scheduler = BatchScheduler(
                scorers: registry.entries.map { ($0.name, $0.scorer) },
                maxBatchTokens: settings.maxBatchTokens, maxQueuedTokens: settings.maxQueuedTokens,
                requestTimeout: settings.requestTimeout, metrics: metrics)
            let installed = state.withLock { state in
                guard case .loading = state else { return false }
                state = .ready(Ready(registry: registry, scheduler: scheduler, kernel: kernel))
                return true
            }
            if installed {
                for entry in registry.entries {
                    let tokenizerNote = entry.tokenizer?.formatName ?? "none (token ids only)"
                    logger.info("model \(entry.name) ready: \(entry.model.config.parameterCount) parameters, \(megabytes(entry.weightBytes)) of weights; tokenizer: \(tokenizerNote)")
                }
                logger.info("\(registry.entries.count) model(s) loaded in \(String(format: "%.2f", seconds(.now - start))) s; weights in memory: \(megabytes(registry.weightBytes))")
            }
        case .failure(let error):
            logger.error("cannot load model or tokenizer: \(error)")
            state.withLock { $0 = .failed("cannot load model or tokenizer: \(error)") }
        }
    }

    /// Drain: refuse new work, let in-flight requests finish until `drain_timeout`, answer whatever is
    /// left 503, stop. Waits are not cut short by task cancellation (an in-process owner cancels to stop).
    private func drain(_ http: HTTPServer) async {
        let ready: Ready? = state.withLock { state in
            switch state {
            case .ready(let ready): state = .draining(ready); return ready
            case .loading: state = .draining(nil); return nil
            default: return nil
            }
        }
        logger.info("draining: \(http.inFlight.count) requests in flight")
        // New requests are refused at their headers (503); every request already accepted — queued, or
        // still being received or decoded — is scored. Woken by the last request's end (or the
        // deadline): no polling, no blocked thread.
        let drained = await http.inFlight.waitUntilNone(deadline: .now + .seconds(settings.drainTimeout))
        if !drained {
            logger.warning("drain_timeout reached with requests in flight; answering them 503")
            http.answerSuspended(with: .error(.draining))
            await ready?.scheduler.dropQueued()
            _ = await http.inFlight.waitUntilNone(deadline: .now + .milliseconds(500))
        }
        await http.stop()
        state.withLock { state in if case .failed = state {} else { state = .stopped } }
        logger.info("stopped")
    }

    // MARK: - HTTPServer.Handler (loop thread)

    var closesConnections: Bool {
        state.withLock { if case .draining = $0 { true } else { false } }
    }

    /// The routes that take a JSON body.
    static let postRoutes = Set(Endpoint.allCases.map(\.rawValue))

    /// Only the POST routes are answered before their body: a refusal there (405, 503, 413 by
    /// Content-Length) spares reading the body. Answering on the first call makes MHD close the
    /// connection, so the GET routes answer once the (empty) body is complete, keeping it alive.
    func respondEarly(_ request: RequestContext, contentLength: Int?) -> Response? {
        guard Self.postRoutes.contains(request.path) else { return nil }
        guard request.method == "POST" else { return .error(.methodNotAllowed(request.method, request.path, allowed: "POST")) }
        switch state.withLock({ $0 }) {
        case .loading, .failed: return .error(.loading)
        case .draining, .stopped: return .error(.draining)
        case .ready: break
        }
        if let contentLength, contentLength > settings.maxBodyBytes {
            return .error(.tooLarge(contentLength, limit: settings.maxBodyBytes))
        }
        return nil
    }

    func respondToBody(_ request: RequestContext, server: HTTPServer) -> Response? {
        if request.bodyTooLarge { return .error(.tooLarge(request.receivedBytes, limit: settings.maxBodyBytes)) }
        let current = state.withLock { $0 }
        switch request.path {
        case let path where Endpoint(path: path) != nil:
            guard case .ready(let ready) = current else { return .error(.draining) }
            let endpoint = Endpoint(path: path)!
            let body = BodyHolder(request.body)
            request.body = Data()
            let reservation = request.bodyReservation
            // The task touches `request` only through `server.complete` (its answer, under the lock).
            request.task = Task {
                let answer = await self.answer(endpoint, body: body, reservation: reservation, ready: ready)
                server.complete(request, with: answer)
            }
            return nil
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else { return .error(.methodNotAllowed(request.method, request.path, allowed: "GET, HEAD")) }
            switch current {
            case .ready(let ready): return .json(200, ["status": "ok", "model": ready.modelName])
            case .loading: return .json(503, ["status": "loading"])
            case .failed(let reason): return .json(503, ["status": "failed", "reason": reason])
            case .draining, .stopped: return .json(503, ["status": "draining"])
            }
        case "/metrics":
            guard request.method == "GET" || request.method == "HEAD" else { return .error(.methodNotAllowed(request.method, request.path, allowed: "GET, HEAD")) }
            return Response(status: 200, body: metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/v1/model", "/v1/models":
            guard request.method == "GET" || request.method == "HEAD" else { return .error(.methodNotAllowed(request.method, request.path, allowed: "GET, HEAD")) }
            switch current {
            case .ready(let ready):
                if request.path == "/v1/model" { return .json(200, modelDescription(ready)) }
                // OpenAI's model list, for clients that discover the model name: every served model, the default first.
                return .json(200, ["object": "list", "data": ready.registry.entries.map { entry in [
                    "id": entry.name, "object": "model", "created": startedAt, "owned_by": "lmscore",
                    "max_model_len": entry.model.config.nPositions,
                ] as [String: Any] }])
            case .loading, .failed: return .error(.loading)
            case .draining, .stopped: return .error(.draining)
            }
        case "/tokenizer_info":
            // lm-eval's remote tokenizer (tokenizer_backend=remote) and vLLM clients; the body: LMScoreAPI's TokenizerInfo.
            guard request.method == "GET" || request.method == "HEAD" else { return .error(.methodNotAllowed(request.method, request.path, allowed: "GET, HEAD")) }
            switch current {
            case .ready(let ready):
                guard let tokenizer = ready.tokenizer else { return .error(TokenizerInfo.unavailable) }
                return .json(200, TokenizerInfo.jsonData(tokenizer: tokenizer, modelName: ready.modelName, contextLength: ready.model.config.nPositions))
            case .loading, .failed: return .error(.loading)
            case .draining, .stopped: return .error(.draining)
            }
        default:
            return .error(.notFound(request.path))
        }
    }

    /// Decode, validate, queue (when there is model work), encode: everything a POST route needs, off
    /// the loop thread, through the same `Endpoint` path `lmscore batch` takes. Decoding and encoding
    /// run on `bodyWorkers`; the body's bytes leave the `max_body_bytes_in_flight` budget once decoded.
    /// A cancelled task (its client hung up) stops before queueing, or is taken out of the queue.
    private func answer(_ endpoint: Endpoint, body: BodyHolder, reservation: BodyBudget.Reservation, ready: Ready) async -> Answer {
        var work: Answer.ScoringWork?
        do {
            let catalog = ready.registry.catalog
            let call = try await bodyWorkers.run { () throws -> EndpointCall in
                defer { reservation.release() }
                return try endpoint.decode(body.take(), catalog: catalog)
            }
            guard let scoring = call.scoring else {
                return Answer(response: .json(200, await bodyWorkers.run { call.responseBody(nil) }))
            }
            work = Answer.ScoringWork(rows: scoring.rowCount, tokens: scoring.tokenCount)
            let scheduled = try await ready.scheduler.submit(scoring, model: call.model, reference: call.reference)
            work?.queueSeconds = scheduled.queueSeconds
            return Answer(response: .json(200, await bodyWorkers.run { call.responseBody(scheduled.result) }), work: work)
        } catch let error as APIError {
            return Answer(response: .error(error), work: work)
        } catch let error as SchedulingError {
            if error == .cancelled { metrics.requestsCancelled.increment() }
            return Answer(response: .error(APIError(error)), work: work)
        } catch {
            logger.error("unexpected error on \(endpoint.rawValue): \(error)")
            return Answer(response: .error(APIError(status: 500, type: "internal_error", code: "internal", message: "internal error")), work: work)
        }
    }

    func finished(_ request: RequestContext, answer: Answer?) {
        let total = seconds(.now - request.start)
        if let unanswered = request.unanswered {
            metrics.countUnanswered(unanswered)
            if unanswered == .clientClosed {
                let prepared = request.status == 0 ? "" : " (its \(request.status) was not delivered)"
                logger.info("\(request.method) \(request.path) - client went away after \(String(format: "%.1f", total * 1000)) ms\(prepared)")
            }
            return
        }
        metrics.countRequest(status: request.status)
        metrics.requestDuration.recordSeconds(total)
        let work = answer?.work
        let queueMS = work?.queueSeconds.map { String(format: "%.1f", $0 * 1000) } ?? "-"
        logger.info("\(request.method) \(request.path) \(request.status) rows=\(work?.rows ?? 0) tokens=\(work?.tokens ?? 0) queue_ms=\(queueMS) total_ms=\(String(format: "%.1f", total * 1000))")
    }

    private func modelDescription(_ ready: Ready) -> [String: Any] {
        var description = Self.describe(ready.registry.first, tokenizer: ready.tokenizer, kernel: ready.kernel)
        // Every served model (the default first) and the memory their weights take together.
        description["models"] = ready.registry.entries.map { Self.describe($0, tokenizer: $0.tokenizer, kernel: ready.kernel) }
        description["weight_bytes_total"] = ready.registry.weightBytes
        return description
    }

    private static func describe(_ entry: ModelRegistry.Entry, tokenizer: (any TextTokenizer)?, kernel: KernelPath) -> [String: Any] {
        let model = entry.model
        let c = model.config
        return [
            "name": entry.name, "weight_bytes": entry.weightBytes, "n_positions": c.nPositions, "vocab_size": c.vocabSize, "n_layer": c.nLayer,
            "n_embd": c.nEmbd, "n_head": c.nHead, "dtype": model.summary.dtypes.joined(separator: ","),
            // The context windows span, the checkpoint's maximum, and whether the maximum was cut to it.
            "model_type": c.modelType, "context_length": c.nPositions, "max_position_embeddings": c.maxPositions,
            "context_limited": c.nPositions < c.maxPositions,
            "parameters": c.parameterCount, "tokenizer": tokenizer?.formatName ?? "none",
            "kernel": kernel.rawValue, "quantization": model.summary.quantization ?? "none", "numerics": c.numerics.rawValue,
            "prefix_cache_bytes": entry.scorer.prefixCache.statistics.budgetBytes,
        ]
    }
}

/// "123.4 MB"
func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

/// Runs `work` on a thread of its own and returns its outcome — or nil as soon as the calling task is
/// cancelled (the thread then finishes on its own and its result is dropped).
func runOnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async -> Result<T, any Error>? {
    let slot = Locked<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)
    return await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            slot.withLock { $0 = continuation }
            if Task.isCancelled { slot.withLock { $0.take() }?.resume(returning: nil); return }
            Thread.detachNewThread {
                let outcome = Result { try work() }
                slot.withLock { $0.take() }?.resume(returning: outcome)
            }
        }
    } onCancel: {
        slot.withLock { $0.take() }?.resume(returning: nil)
    }
}
