import CZlib

/// gzip decompression with zlib; several concatenated members (`cat a.gz b.gz`, pigz) read as one stream.
final class GzipDecoder: StreamCodec {
    private let zlib: ZlibStream
    private var stream: z_streamp { zlib.stream }
    private var scratch: UnsafeMutablePointer<UInt8> { zlib.scratch }
    private var inMember = false   // bytes of a member read, its end not yet

    init() throws(BatchError) {
        // 15 + 16: a gzip wrapper, the largest window.
        zlib = try ZlibStream(what: "a gzip decompressor", end: inflateEnd) {
            inflateInit2_($0, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        }
    }

    func process(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(BatchError) {
        guard let base = input.baseAddress, input.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        while stream.pointee.avail_in > 0 {
            stream.pointee.next_out = scratch
            stream.pointee.avail_out = uInt(codecScratchBytes)
            let status = inflate(stream, Z_NO_FLUSH)
            output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: codecScratchBytes - Int(stream.pointee.avail_out)))
            switch status {
            case Z_OK, Z_BUF_ERROR:
                inMember = true
            case Z_STREAM_END:
                // The next member, if any, starts right after this one.
                inMember = false
                inflateReset(stream)
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                throw BatchError("gzip: the input is corrupt (\(reason))")
            }
        }
        // Output still held back by zlib with no input left.
        while inMember {
            stream.pointee.next_out = scratch
            stream.pointee.avail_out = uInt(codecScratchBytes)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = codecScratchBytes - Int(stream.pointee.avail_out)
            output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: produced))
            if status == Z_STREAM_END { inMember = false; inflateReset(stream) }
            if produced < codecScratchBytes { break }
        }
    }

    func finish(into output: inout [UInt8]) throws(BatchError) {
        if inMember { throw BatchError("gzip: the input ends inside a compressed member (truncated file?)") }
    }
}

/// gzip compression with zlib (level 6, gzip's default).
final class GzipEncoder: StreamCodec {
    private let zlib: ZlibStream
    private var stream: z_streamp { zlib.stream }
    private var scratch: UnsafeMutablePointer<UInt8> { zlib.scratch }

    init() throws(BatchError) {
        zlib = try ZlibStream(what: "a gzip compressor", end: deflateEnd) {
            deflateInit2_($0, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        }
    }

    func process(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(BatchError) {
        guard let base = input.baseAddress, input.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        try run(flush: Z_NO_FLUSH, into: &output)
    }

    func finish(into output: inout [UInt8]) throws(BatchError) {
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try run(flush: Z_FINISH, into: &output)
    }

    private func run(flush: Int32, into output: inout [UInt8]) throws(BatchError) {
        while true {
            stream.pointee.next_out = scratch
            stream.pointee.avail_out = uInt(codecScratchBytes)
            let status = deflate(stream, flush)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw BatchError("gzip: compression failed (status \(status))")
            }
            output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: codecScratchBytes - Int(stream.pointee.avail_out)))
            if flush == Z_FINISH ? status == Z_STREAM_END : (stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0) { return }
        }
    }
}

/// A z_stream at a fixed address (zlib keeps a pointer back to it) with its output scratch, ended
/// (`inflateEnd` or `deflateEnd`) and freed with its owner.
final class ZlibStream {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: codecScratchBytes)
    private let end: (z_streamp) -> Int32

    init(what: String, end: @escaping (z_streamp) -> Int32, start: (z_streamp) -> Int32) throws(BatchError) {
        self.end = end
        stream.initialize(to: z_stream())
        // On failure deinit still runs (self is fully initialized): `end` on a stream that never
        // started is a harmless Z_STREAM_ERROR.
        guard start(stream) == Z_OK else { throw BatchError("zlib: cannot start \(what)") }
    }

    deinit {
        _ = end(stream)
        stream.deallocate()
        scratch.deallocate()
    }
}
