import ArgumentParser
import Foundation

/// `lmscore healthcheck`: GET /healthz on a running server; exit 0 when it answers 200.
/// The container's HEALTHCHECK uses it, so the image needs no curl. A plain socket, not URLSession,
/// which would pull libcurl into the binary.
struct HealthcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck", abstract: "Exit 0 when the server at --host:--port answers GET /healthz with 200.")

    @Option(name: .long, help: "Server address (IPv4).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Server port (default: LMSCORE_PORT or 8080).")
    var port: Int = Int(ProcessInfo.processInfo.environment["LMSCORE_PORT"] ?? "") ?? 8080

    @Option(name: .long, help: "Seconds to wait for the answer.")
    var timeout: Double = 3

    func run() throws {
        let (status, body) = try get(path: "/healthz")
        let summary = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 200 else { throw CommandFailure("unhealthy: HTTP \(status) \(summary)") }
        print(summary)
    }

    private func get(path: String) throws -> (Int, String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandFailure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var wait = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw CommandFailure("\(host) is not an IPv4 address") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CommandFailure("unhealthy: cannot connect to \(host):\(port): \(String(cString: strerror(errno)))") }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
        guard send(fd, request, request.utf8.count, 0) == request.utf8.count else { throw CommandFailure("unhealthy: send failed") }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw CommandFailure("unhealthy: no HTTP answer from \(host):\(port)") }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}
