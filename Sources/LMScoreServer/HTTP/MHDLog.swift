import CMicroHTTPD
import Foundation
import Logging

/// MHD's error log, rate-limited: clients can trigger messages at will.
let logHandler: lmscore_mhd_log_callback = { cls, message in
    guard let cls, let message else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    if logBudget.allow() { server.logger.warning("libmicrohttpd: \(String(cString: message))") }
}

/// At most 20 MHD log lines per second.
private let logBudget = LogBudget(perSecond: 20)

final class LogBudget: Sendable {
    private let perSecond: Int
    private let state = Locked<(second: Int, count: Int)>((0, 0))
    init(perSecond: Int) { self.perSecond = perSecond }
    func allow() -> Bool {
        let now = Int(Date().timeIntervalSince1970)
        return state.withLock { state in
            if state.second != now { state = (now, 0) }
            state.count += 1
            return state.count <= perSecond
        }
    }
}
