import CMicroHTTPD
import Foundation
import Glibc

/// The connections MHD holds, tracked from its accept policy and connection notifications (loop
/// thread): `connection_limit` enforced by closing a new connection at accept, and `connection_timeout`
/// as a deadline for a request's headers.
extension HTTPServer {
    /// MHD's accept policy: refuse (MHD closes the socket at once) when `connection_limit` connections are open.
    func admitConnection() -> MHD_Result {
        guard connections.count >= limits.connectionLimit else { return .YES }
        metrics?.connectionsRefused.increment()
        if refusalLogBudget.allow() {
            logger.warning("refusing connections: connection_limit (\(limits.connectionLimit)) reached")
        }
        return .NO
    }

    func connectionOpened(_ connection: OpaquePointer) {
        connections[connection] = OpenConnection(fd: lmscore_mhd_connection_fd(connection), waitingSince: .now)
        metrics?.connectionsOpen.record(connections.count)
    }

    func connectionClosed(_ connection: OpaquePointer) {
        connections[connection] = nil
        metrics?.connectionsOpen.record(connections.count)
    }

    /// Shuts down (without closing: MHD owns the fd) every connection that has waited longer than
    /// `connection_timeout` for a complete set of request headers; MHD sees the close and frees it.
    func closeConnectionsPastHeaderDeadline() {
        let now = ContinuousClock.Instant.now
        guard now >= nextHeaderSweep else { return }
        nextHeaderSweep = now + .milliseconds(250)
        let deadline = Duration.seconds(limits.connectionTimeout)
        var closed = 0
        for (connection, open) in connections {
            guard let since = open.waitingSince, now - since > deadline else { continue }
            connections[connection]?.waitingSince = nil
            metrics?.headerTimeouts.increment()   // before the client can see the close
            shutdown(open.fd, Int32(SHUT_RDWR))
            closed += 1
        }
        if closed > 0 {
            logger.info("closed \(closed) connection(s): request headers still incomplete after connection_timeout (\(limits.connectionTimeout) s)")
        }
    }
}

let acceptPolicy: MHD_AcceptPolicyCallback = { cls, _, _ in
    guard let cls else { return .NO }
    return Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue().admitConnection()
}

let connectionNotification: MHD_NotifyConnectionCallback = { cls, connection, _, code in
    guard let cls, let connection else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    if code.rawValue == 0 /* MHD_CONNECTION_NOTIFY_STARTED */ { server.connectionOpened(connection) } else { server.connectionClosed(connection) }
}
