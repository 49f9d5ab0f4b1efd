import Foundation

/// Reads a batch file line by line, streaming: plain, `.gz` or `.zst` (by name), or standard input
/// (`-`, plain). Memory holds one read block and the current line, whatever the file's size.
public final class LineReader {
    public let path: String
    private let descriptor: Int32
    private let decoder: (any StreamCodec)?
    private var buffer: [UInt8] = []   // decoded bytes not yet returned
    private var start = 0              // where the next line begins in `buffer`
    private var atEnd = false
    private let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    /// Lines returned so far: the number of the last one returned (1-based).
    public private(set) var lineNumber = 0

    public init(path: String) throws(BatchError) {
        self.path = path
        if path == "-" {
            descriptor = STDIN_FILENO
            decoder = nil
        } else {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw BatchError("cannot read \(path): \(String(cString: strerror(errno)))") }
            decoder = try Compression(path: path).decoder()
        }
    }

    deinit {
        if descriptor != STDIN_FILENO { close(descriptor) }
        block.deallocate()
    }

    /// The next line without its `\n` (a final line without one counts too), nil after the last.
    public func next() throws(BatchError) -> Data? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Data(buffer[start..<end])
                start = newline + 1
                lineNumber += 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Data(buffer[start...])
                start = buffer.count
                lineNumber += 1
                return line
            }
            try fill()
        }
    }

    /// Reads (and decodes) the next block, after dropping the lines already returned.
    private func fill() throws(BatchError) {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        var count: Int
        repeat { count = read(descriptor, block.baseAddress, block.count) } while count < 0 && errno == EINTR
        guard count >= 0 else { throw BatchError("cannot read \(path): \(String(cString: strerror(errno)))") }
        if count == 0 {
            atEnd = true
            try decoder?.finish(into: &buffer)
            return
        }
        let bytes = UnsafeRawBufferPointer(rebasing: block[0..<count])
        if let decoder { try decoder.process(bytes, into: &buffer) } else { buffer.append(contentsOf: bytes) }
    }
}
