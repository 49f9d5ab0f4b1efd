import Foundation
import Glibc

/// A response as read off the wire.
struct HTTPResponse: Sendable, CustomStringConvertible {
    var status: Int
    var reason: String
    var headers: [HTTPHeader]
    var body: [UInt8]
    /// When the last byte of the response arrived (for ordering and latency checks).
    var received = ContinuousClock.Instant.now

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The server said it will close the connection after this response.
    var closesConnection: Bool { header("Connection")?.lowercased().contains("close") ?? false }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw HTTPClientError.malformed("body is not a JSON object: \(text.prefix(300))")
        }
        return object
    }

    var description: String {
        "HTTP \(status) \(reason) [\(headers.map { "\($0.name): \($0.value)" }.joined(separator: "; "))] \(text.prefix(500))"
    }
}

struct HTTPHeader: Sendable {
    var name: String
    var value: String
}

enum HTTPClientError: Error, CustomStringConvertible {
    case connect(Int32)
    case send(Int32)
    case receive(Int32)
    case timedOut(String)
    /// The peer closed the connection before a whole response arrived.
    case closedByPeer(receivedBytes: Int)
    case malformed(String)

    var description: String {
        switch self {
        case .connect(let e): "connect: \(String(cString: strerror(e))) (errno \(e))"
        case .send(let e): "send: \(String(cString: strerror(e))) (errno \(e))"
        case .receive(let e): "recv: \(String(cString: strerror(e))) (errno \(e))"
        case .timedOut(let what): "timed out \(what)"
        case .closedByPeer(let n): "connection closed by the server after \(n) bytes of a response"
        case .malformed(let what): "malformed response: \(what)"
        }
    }

    var isConnectionRefused: Bool {
        if case .connect(let e) = self { return e == ECONNREFUSED }
        return false
    }
}

/// A blocking HTTP/1.1 client over one TCP connection (POSIX sockets; every wait bounded by a
/// receive/send timeout so a hang fails the test instead of blocking it; 60 s by default, because with
/// the whole suite running on 2 cores, long synchronous tests can hold both of Swift's cooperative
/// threads, and the server's tasks wait for them). Not thread-safe: one thread per connection at a time.
final class HTTPConnection: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private var buffer: [UInt8] = []
    private var isClosed = false

    init(port: Int, host: String = "127.0.0.1", timeout: Double = 60) throws {
        self.port = port
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError.connect(errno) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let error = errno
            Glibc.close(fd)
            throw HTTPClientError.connect(error)
        }
        self.fd = fd
    }

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    /// Closes with a TCP reset (SO_LINGER 0) instead of a FIN: the server's next write to it fails.
    func reset() {
        guard !isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    // MARK: Sending

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EAGAIN ? HTTPClientError.timedOut("sending") : HTTPClientError.send(errno)
            }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends `bytes` `pieceSize` at a time with `delay` seconds between pieces.
    func trickle(_ bytes: [UInt8], pieceSize: Int = 1, delay: Double) throws {
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + pieceSize, bytes.count)
            try send(Array(bytes[offset..<end]))
            offset = end
            if offset < bytes.count { usleep(UInt32(delay * 1_000_000)) }
        }
    }

    /// Sends `bytes` one at a time, waiting up to `pause` seconds after each for the server to close
    /// the connection: how many had been sent when it closed, or nil when all were sent first.
    func trickleUntilClosed(_ bytes: [UInt8], pause: Double) throws -> Int? {
        for (i, byte) in bytes.enumerated() {
            do { try send([byte]) } catch { return i }
            if try waitForClose(timeout: pause) { return i + 1 }
        }
        return nil
    }

    /// The bytes of a request. Adds `Host`, and `Content-Length` when there is a body and no
    /// `Transfer-Encoding`/`Content-Length` header was given.
    static func requestBytes(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let names = Set(headers.map { $0.0.lowercased() })
        if let body, !names.contains("content-length"), !names.contains("transfer-encoding") {
            head += "Content-Length: \(body.count)\r\n"
        }
        if body != nil && !names.contains("content-type") { head += "Content-Type: application/json\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }

    /// Sends a request without reading the answer.
    func sendRequest(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) throws {
        try send(Self.requestBytes(method, path, headers: headers, body: body.map { Array($0.utf8) }))
    }

    /// Sends a request and reads its response.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) throws -> HTTPResponse {
        try sendRequest(method, path, headers: headers, body: body)
        return try readResponse(head: method == "HEAD")
    }

    /// Chunked transfer encoding of `body` cut into `chunkSize` pieces, with the final zero chunk.
    static func chunked(_ body: [UInt8], chunkSize: Int) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        while offset < body.count {
            let end = min(offset + chunkSize, body.count)
            out += Array(String(end - offset, radix: 16).utf8) + [13, 10] + body[offset..<end] + [13, 10]
            offset = end
        }
        out += Array("0\r\n\r\n".utf8)
        return out
    }

    // MARK: Receiving

    /// Reads one response (skipping interim 1xx responses unless `interim`).
    func readResponse(head: Bool = false, interim: Bool = false) throws -> HTTPResponse {
        while true {
            let headBytes = try readHead()
            let lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ", maxSplits: 2)
            guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
                throw HTTPClientError.malformed("status line \(lines[0].debugDescription)")
            }
            var headers: [HTTPHeader] = []
            for line in lines.dropFirst() where !line.isEmpty {
                guard let colon = line.firstIndex(of: ":") else { throw HTTPClientError.malformed("header line \(line.debugDescription)") }
                headers.append(HTTPHeader(name: String(line[..<colon]),
                                          value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            var response = HTTPResponse(status: status, reason: statusParts.count > 2 ? String(statusParts[2]) : "", headers: headers, body: [])
            if (100..<200).contains(status) {
                if interim { return response }
                continue
            }
            if head || status == 204 || status == 304 {
                response.received = .now
                return response
            }
            if response.header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
                response.body = try readChunkedBody()
            } else if let lengthText = response.header("Content-Length") {
                guard let length = Int(lengthText), length >= 0 else { throw HTTPClientError.malformed("Content-Length \(lengthText)") }
                response.body = try readExactly(length)
            } else {
                response.body = try readToEnd()
            }
            response.received = .now
            return response
        }
    }

    /// True when the server closed the connection (EOF or reset) within `timeout` seconds, with no
    /// bytes of a response; false if it stays open. Throws if bytes arrive instead.
    func waitForClose(timeout: Double) throws -> Bool {
        let deadline = ContinuousClock.Instant.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.Instant.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let remaining = max(1, Int32((deadline - .now).components.seconds * 1000 + (deadline - .now).components.attoseconds / 1_000_000_000_000_000))
            let rc = poll(&p, 1, min(remaining, 100))
            if rc < 0 { if errno == EINTR { continue }; throw HTTPClientError.receive(errno) }
            if rc == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 {
                if errno == ECONNRESET { return true }
                if errno == EINTR || errno == EAGAIN { continue }
                throw HTTPClientError.receive(errno)
            }
            buffer += chunk[0..<n]
            throw HTTPClientError.malformed("expected the connection to close, got \(String(decoding: buffer, as: UTF8.self).prefix(200).debugDescription)")
        }
        return false
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer += chunk[0..<n]
                return
            }
            if n == 0 { throw HTTPClientError.closedByPeer(receivedBytes: buffer.count) }
            switch errno {
            case EINTR: continue
            case EAGAIN: throw HTTPClientError.timedOut("waiting for a response (\(buffer.count) bytes so far)")
            case ECONNRESET: throw HTTPClientError.closedByPeer(receivedBytes: buffer.count)
            default: throw HTTPClientError.receive(errno)
            }
        }
    }

    private func readHead() throws -> [UInt8] {
        var searchFrom = 0
        while true {
            if buffer.count >= 4 {
                var i = max(0, searchFrom)
                while i + 3 < buffer.count {
                    if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                        let head = Array(buffer[0..<i])
                        buffer.removeFirst(i + 4)
                        return head
                    }
                    i += 1
                }
                searchFrom = buffer.count - 3
            }
            if buffer.count > 1 << 20 { throw HTTPClientError.malformed("no end of headers in 1 MiB") }
            try fill()
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.indices.dropLast().first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) {
                let line = String(decoding: buffer[0..<i], as: UTF8.self)
                buffer.removeFirst(i + 2)
                return line
            }
            try fill()
        }
    }

    private func readChunkedBody() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw HTTPClientError.malformed("chunk size \(sizeLine.debugDescription)")
            }
            if size == 0 {
                while try !readLine().isEmpty {}   // trailers
                return body
            }
            body += try readExactly(size)
            _ = try readExactly(2)
        }
    }

    private func readToEnd() throws -> [UInt8] {
        while true {
            do { try fill() } catch HTTPClientError.closedByPeer {
                let out = buffer
                buffer = []
                return out
            }
        }
    }
}
