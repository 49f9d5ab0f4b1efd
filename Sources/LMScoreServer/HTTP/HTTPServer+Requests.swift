import CMicroHTTPD
import Foundation
import Glibc
import LMScoreAPI

/// MHD's request callbacks, all on the loop thread: headers (answer early, refuse a body the
/// `max_body_bytes_in_flight` budget cannot hold, or wait for the body), body chunks (capped at
/// `max_body_bytes`, cut after `body_timeout`), the complete body (hand it to the handler, suspend and
/// watch for a hang-up), the resumed call (queue the stored answer), and MHD's completion report.
extension HTTPServer {
    func handle(
        connection: OpaquePointer, url: String, method: String, upload: UnsafePointer<CChar>?,
        uploadSize: UnsafeMutablePointer<Int>, slot: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        guard let existing = slot.pointee else {
            // First call: headers only.
            connections[connection]?.waitingSince = nil
            let request = RequestContext(method: method, path: url, connection: connection, bodyReservation: bodyBudget.reservation())
            slot.pointee = Unmanaged.passRetained(request).toOpaque()
            metrics?.requestsInFlight.record(inFlight.enter())
            let length = header(connection, "Content-Length").flatMap { Int($0) }
            if let response = handler.respondEarly(request, contentLength: length) {
                return queue(response, for: request)
            }
            // Reserve the body's bytes before reading any: a chunked body's size is unknown, so it
            // reserves the most it may be.
            let chunked = header(connection, "Transfer-Encoding")?.lowercased().contains("chunked") ?? false
            let bodyBytes = chunked ? limits.maxBodyBytes : min(length ?? 0, limits.maxBodyBytes)
            if bodyBytes > 0 && !request.bodyReservation.grow(to: bodyBytes) {
                metrics?.bodiesRefused.increment()
                return queue(.error(.bodiesInFlight(limit: bodyBudget.limit)), for: request)
            }
            // A known length is allocated once: no regrowth copies on the loop thread, no overshoot.
            if !chunked && bodyBytes > 0 { request.body.reserveCapacity(bodyBytes) }
            return .YES
        }
        let request = Unmanaged<RequestContext>.fromOpaque(existing).takeUnretainedValue()
        if uploadSize.pointee > 0 {
            let size = uploadSize.pointee
            request.receivedBytes += size
            if request.body.count + size <= limits.maxBodyBytes, let upload {
                request.body.append(UnsafeRawPointer(upload).assumingMemoryBound(to: UInt8.self), count: size)
            } else {
                request.bodyTooLarge = true
                request.body = Data()
                // A chunked body far past the limit: stop reading, close the connection.
                if request.receivedBytes > 2 * limits.maxBodyBytes {
                    request.unanswered = .bodyOverLimit
                    return .NO
                }
            }
            uploadSize.pointee = 0
            if seconds(.now - request.start) > limits.bodyTimeout {
                logger.info("closing connection: body of \(request.method) \(request.path) still arriving after body_timeout")
                request.unanswered = .bodyTimeout
                return .NO
            }
            return .YES
        }
        // The body is complete, or the connection was resumed with its answer.
        if let answer = answer(of: request) {
            return queue(answer.response, for: request)
        }
        if request.suspended { return .YES }
        request.bodyReservation.shrink(to: request.body.count)
        if let response = handler.respondToBody(request, server: self) {
            return queue(response, for: request)
        }
        // Suspend now, inside the handler as MHD requires; the answer may already be waiting in
        // `ready` (it is only acted on by this thread, after we return), so no resume can be missed.
        request.suspended = true
        lock.withLock { $0.suspended[ObjectIdentifier(request)] = request }
        MHD_suspend_connection(connection)
        watch(request)
        return .YES
    }

    private func queue(_ response: Response, for request: RequestContext) -> MHD_Result {
        request.status = response.status
        let mhdResponse = response.body.withUnsafeBytes { bytes in
            lmscore_mhd_response_copy(bytes.baseAddress, bytes.count)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        MHD_add_response_header(mhdResponse, "Content-Type", response.contentType)
        for (name, value) in response.headers { MHD_add_response_header(mhdResponse, name, value) }
        if handler.closesConnections { MHD_add_response_header(mhdResponse, "Connection", "close") }
        return MHD_queue_response(request.connection, UInt32(response.status), mhdResponse)
    }

    fileprivate func completed(connection: OpaquePointer?, slot: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                               termination: MHD_RequestTerminationCode) {
        // The connection now waits for its next request's headers (or closes).
        if let connection { connections[connection]?.waitingSince = .now }
        guard let pointer = slot.pointee else { return }
        slot.pointee = nil
        let request = Unmanaged<RequestContext>.fromOpaque(pointer).takeRetainedValue()
        request.bodyReservation.release()
        request.task = nil
        // A 499 (the client hung up and its work was dropped) is never an answer, even when MHD's one
        // write to the half-closed socket succeeded.
        if request.status == APIError.clientClosed.status { request.unanswered = .clientClosed }
        if termination.rawValue != 0 /* MHD_REQUEST_TERMINATED_COMPLETED_OK */ && request.unanswered == nil {
            request.unanswered = termination.rawValue == 3 /* …_DAEMON_SHUTDOWN */ ? .shutdown : .clientClosed
        }
        handler.finished(request, answer: answer(of: request))
        metrics?.requestsInFlight.record(inFlight.leave())
    }

    private func header(_ connection: OpaquePointer, _ name: String) -> String? {
        MHD_lookup_connection_value(connection, .HEADER_KIND, name).map { String(cString: $0) }
    }

}

// C entry points. Defined at file scope, not in main.swift, so they are not main-actor isolated
// (a Swift 6 trap: such closures crash when MHD calls them on its thread).

let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, upload, uploadSize, slot in
    guard let cls, let connection, let uploadSize, let slot else { return .NO }
    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
    return server.handle(
        connection: connection, url: url.map { String(cString: $0) } ?? "/", method: method.map { String(cString: $0) } ?? "",
        upload: upload, uploadSize: uploadSize, slot: slot)
}

let completedHandler: MHD_RequestCompletedCallback = { cls, connection, slot, termination in
    guard let cls, let slot else { return }
    Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue().completed(connection: connection, slot: slot, termination: termination)
}
