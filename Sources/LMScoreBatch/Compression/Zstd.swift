import CZstd

/// zstd decompression; concatenated frames read as one stream (zstd's own streaming API does that).
final class ZstdDecoder: StreamCodec {
    private let context: OpaquePointer
    private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: codecScratchBytes)
    /// ZSTD_decompressStream's last hint: 0 when the last frame is complete.
    private var pending = 0

    init() throws(BatchError) {
        guard let context = ZSTD_createDCtx() else { throw BatchError("zstd: cannot start a decompressor") }
        self.context = context
    }

    deinit {
        ZSTD_freeDCtx(context)
        scratch.deallocate()
    }

    func process(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(BatchError) {
        guard let base = input.baseAddress, input.count > 0 else { return }
        var source = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        while true {
            var target = ZSTD_outBuffer(dst: scratch, size: codecScratchBytes, pos: 0)
            let hint = ZSTD_decompressStream(context, &target, &source)
            if ZSTD_isError(hint) != 0 {
                throw BatchError("zstd: the input is corrupt (\(String(cString: ZSTD_getErrorName(hint))))")
            }
            pending = hint
            output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: target.pos))
            // Done when the input is consumed and the output did not fill (nothing held back).
            if source.pos == source.size && target.pos < target.size { return }
        }
    }

    func finish(into output: inout [UInt8]) throws(BatchError) {
        if pending != 0 { throw BatchError("zstd: the input ends inside a frame (truncated file?)") }
    }
}

/// zstd compression at level 3 (zstd's default).
final class ZstdEncoder: StreamCodec {
    private let context: OpaquePointer
    private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: codecScratchBytes)

    init() throws(BatchError) {
        guard let context = ZSTD_createCCtx() else { throw BatchError("zstd: cannot start a compressor") }
        self.context = context
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 3)
    }

    deinit {
        ZSTD_freeCCtx(context)
        scratch.deallocate()
    }

    func process(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(BatchError) {
        guard let base = input.baseAddress, input.count > 0 else { return }
        var source = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        while source.pos < source.size {
            try step(&source, ZSTD_e_continue, into: &output)
        }
    }

    func finish(into output: inout [UInt8]) throws(BatchError) {
        var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&source, ZSTD_e_end, into: &output) != 0 {}
    }

    /// One call of ZSTD_compressStream2; returns its "bytes still to flush" hint.
    @discardableResult
    private func step(_ source: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective, into output: inout [UInt8]) throws(BatchError) -> Int {
        var target = ZSTD_outBuffer(dst: scratch, size: codecScratchBytes, pos: 0)
        let remaining = ZSTD_compressStream2(context, &target, &source, mode)
        if ZSTD_isError(remaining) != 0 {
            throw BatchError("zstd: compression failed (\(String(cString: ZSTD_getErrorName(remaining))))")
        }
        output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: target.pos))
        return remaining
    }
}
