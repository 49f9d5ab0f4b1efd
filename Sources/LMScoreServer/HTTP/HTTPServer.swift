import CMicroHTTPD
import Foundation
import Glibc
import Logging
import Synchronization

/// libmicrohttpd driven from our own epoll thread.
///
/// MHD runs without its internal thread (`MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME`): the loop thread
/// waits on MHD's epoll fd and an eventfd, then calls `MHD_run`. This avoids the stall of MHD's own
/// epoll thread at ≥ 128 active connections (../shared/notes/libmicrohttpd.md) and gives resume a
/// wake-up channel: a finished request is queued under `lock` and the eventfd written; the loop thread
/// resumes its connection, MHD calls the handler again, and the response is queued there.
///
/// Handlers never wait on the model: a `/score` request is suspended while its batch runs. MHD does not
/// watch a suspended connection, so the loop watches its socket itself (`EPOLLRDHUP`): a client that
/// hangs up while its request waits has the request's task cancelled (its queued rows are dropped, and
/// the task answers at once), so the connection is resumed and MHD sees the close and frees it.
///
/// Shutdown is ordered on the loop thread: `stop()` asks the loop to end; the loop, once out, marks
/// the server stopped and closes the eventfd under `lock` — the same lock `complete()` writes the
/// eventfd under, so no late answer can write to a closed or reused descriptor — then resumes what is
/// left, stops MHD and signals `stop()`'s awaiting task (no thread is blocked waiting).
///
/// Files: this one (lifecycle, the loop, handing answers back), `HTTPServer+Requests.swift` (MHD's
/// request callbacks: headers, body, suspend, queue the response, completion),
/// `HTTPServer+Connections.swift` (the connection limit and header deadline below), `MHDLog.swift`.
///
/// Two limits MHD does not enforce well are enforced here, from MHD's connection notifications:
/// - `connection_limit`: over it, a new connection is closed at once (MHD's accept policy). MHD's own
///   limit, when reached, stops accepting instead, leaving new clients hanging in the listen backlog
///   until an idle connection times out.
/// - `connection_timeout` as a deadline for a request's headers: MHD's timeout counts inactivity only,
///   so a client sending its headers a byte a second would hold its connection forever. A connection
///   that has waited that long for a complete set of headers (since it opened, or since its previous
///   response was sent) is shut down; MHD then sees the close and frees it.
final class HTTPServer: @unchecked Sendable {
    /// What the server does with requests; called on the loop thread.
    protocol Handler: AnyObject, Sendable {
        /// Headers are in: answer now (404, 405, 413, 503, GET routes), or nil to read the body.
        func respondEarly(_ request: RequestContext, contentLength: Int?) -> Response?
        /// The body is complete: answer now, or return nil after arranging `server.complete(...)`.
        func respondToBody(_ request: RequestContext, server: HTTPServer) -> Response?
        /// MHD is done with the request (answered or the client went away); `answer` is the one stored.
        func finished(_ request: RequestContext, answer: Answer?)
        /// Responses carry `Connection: close` while this is true (draining).
        var closesConnections: Bool { get }
    }

    struct Limits {
        var host: String
        var port: Int
        var connectionLimit: Int
        var connectionTimeout: Int
        var connectionMemory: Int
        var listenBacklog: Int
        var maxBodyBytes: Int
        var maxBodyBytesInFlight: Int
        var bodyTimeout: Double
    }

    enum StartError: Error, CustomStringConvertible {
        case cannotStart(host: String, port: Int, reason: String)
        var description: String {
            switch self {
            case .cannotStart(let host, let port, let reason): "cannot listen on \(host):\(port): \(reason)"
            }
        }
    }

    let limits: Limits
    let logger: Logger
    let handler: any Handler
    let metrics: ServerMetrics?
    private var daemon: OpaquePointer?
    private var wakeFD: Int32 = -1
    private var loopFD: Int32 = -1
    /// Requests waiting for the loop thread to resume them, and all suspended requests.
    struct Parked {
        var ready: [RequestContext] = []
        var suspended: [ObjectIdentifier: RequestContext] = [:]
        /// Set (under the lock) when the eventfd is closed: late answers are dropped.
        var stopped = false
    }
    /// This daemon's log destination, alive until the daemon stops.
    private let logTarget = UnsafeMutablePointer<lmscore_mhd_logger>.allocate(capacity: 1)
    let lock = Locked(Parked())
    private let stopRequested = Atomic<Bool>(false)
    /// The loop thread has stopped MHD and closed its descriptors.
    private let loopFinished = OneTimeEvent()
    /// The connections MHD holds: their socket and, while they wait for a request's headers, since when.
    /// Touched only inside MHD's callbacks, i.e. on the loop thread (or in stop(), after the loop ended).
    struct OpenConnection {
        let fd: Int32
        var waitingSince: ContinuousClock.Instant?
    }
    var connections: [OpaquePointer: OpenConnection] = [:]
    var nextHeaderSweep = ContinuousClock.Instant.now
    let refusalLogBudget = LogBudget(perSecond: 1)
    /// Requests whose headers arrived and whose completion MHD has not yet reported.
    let inFlight = InFlightRequests()
    /// Bytes of request bodies held (`max_body_bytes_in_flight`).
    let bodyBudget: BodyBudget
    /// Suspended requests by the socket watched for their client hanging up (loop thread only).
    var watched: [Int32: RequestContext] = [:]
    private(set) var port = 0
    /// start() succeeded (set and read by the owner's task only).
    private var started = false

    init(limits: Limits, handler: any Handler, logger: Logger, metrics: ServerMetrics? = nil) {
        self.limits = limits
        self.handler = handler
        self.logger = logger
        self.metrics = metrics
        self.bodyBudget = BodyBudget(limit: limits.maxBodyBytesInFlight) { metrics?.bodyBytesInFlight.record($0) }
    }

    /// Opens the port and starts the loop thread.
    func start() throws {
        var settings = lmscore_mhd_settings()
        let host = strdup(limits.host)
        defer { free(host) }
        settings.host = UnsafePointer(host)
        settings.port = UInt16(limits.port)
        settings.connection_limit = UInt32(limits.connectionLimit)
        settings.connection_timeout = UInt32(limits.connectionTimeout)
        settings.connection_memory_limit = limits.connectionMemory
        settings.listen_backlog = UInt32(limits.listenBacklog)
        // MHD's own limit sits above ours so that it never stops accepting: `acceptPolicy` refuses first.
        settings.connection_limit = UInt32(limits.connectionLimit + 16)
        raiseFileLimit(to: limits.connectionLimit + 16 + 64)

        // MHD holds `self` unretained: the owner keeps the server alive until stop() returns.
        let me = Unmanaged.passUnretained(self).toOpaque()
        logTarget.initialize(to: lmscore_mhd_logger(callback: logHandler, context: me))
        guard let daemon = lmscore_mhd_start(&settings, accessHandler, completedHandler, acceptPolicy, connectionNotification, me, logTarget) else {
            throw StartError.cannotStart(host: limits.host, port: limits.port, reason: String(cString: strerror(errno)))
        }
        self.daemon = daemon
        port = Int(lmscore_mhd_bound_port(daemon))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        loopFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        for fd in [lmscore_mhd_epoll_fd(daemon), wakeFD] {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = fd
            epoll_ctl(loopFD, EPOLL_CTL_ADD, fd, &event)
        }
        let thread = Thread { [self] in runLoop() }
        thread.name = "lmscore-http"
        started = true
        thread.start()
    }

    /// Stops the loop and the daemon, and returns once both are gone. Call only when nothing is
    /// suspended (after draining); anything still suspended is answered 503 first (MHD aborts on stop
    /// with a suspended connection).
    func stop() async {
        guard started else { return }
        if !stopRequested.exchange(true, ordering: .sequentiallyConsistent) {
            lock.withLock { parked in if !parked.stopped { wake() } }
        }
        await loopFinished.wait()
    }

    /// The loop thread's last act: close the wake-up channel (under the lock, so no `complete()` can
    /// be writing to it), answer and resume whatever is still suspended, stop MHD.
    private func shutDown() {
        let leftovers = lock.withLock { parked in
            parked.stopped = true
            close(wakeFD)
            parked.ready.removeAll()
            defer { parked.suspended.removeAll() }
            for request in parked.suspended.values where request.answer == nil {
                request.answer = Answer(response: .error(.draining))
            }
            return Array(parked.suspended.values)
        }
        for request in leftovers where request.suspended {
            unwatch(request)
            request.suspended = false
            MHD_resume_connection(request.connection)
        }
        if !leftovers.isEmpty { MHD_run(daemon) }
        MHD_stop_daemon(daemon)
        daemon = nil
        close(loopFD)
    }

    deinit { logTarget.deallocate() }

    /// Answers every still-suspended request with `response` (a drain that ran out of time), so that
    /// `stop()` never finds a suspended connection. Safe from any thread.
    func answerSuspended(with response: Response) {
        let suspended = lock.withLock { Array($0.suspended.values) }
        for request in suspended { complete(request, with: Answer(response: response)) }
    }

    /// Hands a suspended request its response; safe from any thread. The first answer wins: a later
    /// one (a result arriving after the drain deadline answered 503) is dropped.
    func complete(_ request: RequestContext, with answer: Answer) {
        lock.withLock { parked in
            guard !parked.stopped, request.answer == nil else { return }
            request.answer = answer
            parked.ready.append(request)
            wake()
        }
    }

    /// The answer stored for `request`, if any (it is written under the lock, by any thread).
    func answer(of request: RequestContext) -> Answer? {
        lock.withLock { _ in request.answer }
    }

    /// Writes the eventfd. Call only under `lock` with `stopped` false: the loop closes the eventfd
    /// under the lock, after setting `stopped`.
    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func runLoop() {
        var events = [epoll_event](repeating: epoll_event(), count: 8)
        while !stopRequested.load(ordering: .sequentiallyConsistent) {
            // At most 500 ms, so that the header deadline is enforced on time.
            let timeout = lmscore_mhd_timeout_ms(daemon)
            let count = epoll_wait(loopFD, &events, Int32(events.count), timeout < 0 ? 500 : min(timeout, 500))
            for event in events.prefix(Int(max(count, 0))) where watched[event.data.fd] != nil {
                clientHungUp(socket: event.data.fd)
            }
            var counter: UInt64 = 0
            _ = read(wakeFD, &counter, 8)
            let ready = lock.withLock { parked in
                defer { parked.ready.removeAll() }
                for request in parked.ready { parked.suspended[ObjectIdentifier(request)] = nil }
                return parked.ready
            }
            for request in ready where request.suspended {
                unwatch(request)
                request.suspended = false
                MHD_resume_connection(request.connection)
            }
            MHD_run(daemon)
            closeConnectionsPastHeaderDeadline()
        }
        shutDown()
        loopFinished.signal()
    }

    // MARK: - Clients that hang up while their request is suspended (loop thread)

    /// Watches a suspended request's socket for the client closing or resetting it.
    func watch(_ request: RequestContext) {
        guard let fd = connections[request.connection]?.fd, fd >= 0 else { return }
        var event = epoll_event()
        event.events = EPOLLRDHUP.rawValue
        event.data.fd = fd
        guard epoll_ctl(loopFD, EPOLL_CTL_ADD, fd, &event) == 0 else { return }
        request.watchedSocket = fd
        watched[fd] = request
    }

    /// Stops watching; done before the connection is resumed, after which MHD may close the socket
    /// and the descriptor be reused.
    func unwatch(_ request: RequestContext) {
        guard request.watchedSocket >= 0 else { return }
        epoll_ctl(loopFD, EPOLL_CTL_DEL, request.watchedSocket, nil)
        watched[request.watchedSocket] = nil
        request.watchedSocket = -1
    }

    /// The client of a suspended request closed its connection (or its sending side): cancel the
    /// request's task. Rows still queued are withdrawn, never scored, and the task answers at once (499,
    /// never delivered, counted as `client_closed`); work already done or under way (decoding, a running
    /// forward pass) finishes and answers as usual — so a client that only shut down its sending side,
    /// as an HTTP/1.0 body-until-close client does, still gets any answer that was not dropped.
    private func clientHungUp(socket: Int32) {
        guard let request = watched[socket] else { return }
        unwatch(request)
        request.task?.cancel()
    }

    /// MHD's connection limit is useless if the process runs out of file descriptors first.
    private func raiseFileLimit(to wanted: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
