import Foundation

/// Writes a file (or standard output, `-`) through an optional compressor, in large writes.
/// `finish` writes the compressor's trailer and, for a file, syncs it to disk.
public final class OutputFile {
    public let path: String
    private let descriptor: Int32
    private let encoder: (any StreamCodec)?
    private var pending: [UInt8] = []
    private static let writeBytes = 1 << 20

    /// Creates (truncates) `path`; `compression` applies to what is written, whatever the name says.
    public init(path: String, compression: Compression) throws(BatchError) {
        self.path = path
        if path == "-" {
            descriptor = STDOUT_FILENO
        } else {
            descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw BatchError("cannot write \(path): \(String(cString: strerror(errno)))") }
        }
        encoder = try compression.encoder()
        pending.reserveCapacity(Self.writeBytes + codecScratchBytes)
    }

    deinit {
        if descriptor != STDOUT_FILENO { close(descriptor) }
    }

    public func write(_ data: Data) throws(BatchError) {
        if let encoder {
            // Data.withUnsafeBytes rethrows untyped errors: carry the codec's error out in a variable.
            var failure: BatchError?
            data.withUnsafeBytes { bytes in
                do throws(BatchError) { try encoder.process(bytes, into: &pending) } catch { failure = error }
            }
            if let failure { throw failure }
        } else {
            pending.append(contentsOf: data)
        }
        if pending.count >= Self.writeBytes { try flush() }
    }

    /// Everything written so far reaches the file (or pipe); for a file, on disk.
    public func finish() throws(BatchError) {
        try encoder?.finish(into: &pending)
        try flush()
        if descriptor != STDOUT_FILENO, fsync(descriptor) != 0 {
            throw BatchError("cannot sync \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func flush() throws(BatchError) {
        var offset = 0
        while offset < pending.count {
            let written = pending[offset...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw BatchError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        pending.removeAll(keepingCapacity: true)
    }
}
