/// How a batch file is stored, chosen by its name: `.gz` (zlib's gzip), `.zst` (zstd), else plain.
public enum Compression: String, Sendable {
    case none, gzip, zstd

    public init(path: String) {
        if path.hasSuffix(".gz") { self = .gzip }
        else if path.hasSuffix(".zst") { self = .zstd }
        else { self = .none }
    }

    func decoder() throws(BatchError) -> (any StreamCodec)? {
        switch self {
        case .none: return nil
        case .gzip: return try GzipDecoder()
        case .zstd: return try ZstdDecoder()
        }
    }

    func encoder() throws(BatchError) -> (any StreamCodec)? {
        switch self {
        case .none: return nil
        case .gzip: return try GzipEncoder()
        case .zstd: return try ZstdEncoder()
        }
    }
}

/// One direction of a streaming codec (a compressor or a decompressor) over the system library.
protocol StreamCodec: AnyObject {
    /// Consumes all of `input` and appends whatever comes out to `output`.
    func process(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(BatchError)
    /// End of input: a compressor writes its trailer; a decompressor checks the stream was complete.
    func finish(into output: inout [UInt8]) throws(BatchError)
}

/// Output space codecs write into before it is appended to the caller's buffer.
let codecScratchBytes = 1 << 18
