import Foundation
@testable import LMScoreBatch
import LMScoreTestSupport
import Testing

/// `.gz` and `.zst` through zlib and libzstd, checked against the gzip and zstd command-line tools.
struct CompressionTests {
    /// Lines long enough to span several 1 MB read blocks and codec buffers.
    static let lines = (0..<20_000).map { "{\"custom_id\":\"\($0)\",\"text\":\"\(String(repeating: "ab", count: $0 % 97))\"}" }
    static let text = lines.joined(separator: "\n") + "\n"

    func readAll(_ path: String) throws -> [String] {
        let reader = try LineReader(path: path)
        var out: [String] = []
        while let line = try reader.next() { out.append(String(decoding: line, as: UTF8.self)) }
        return out
    }

    @Test(arguments: ["jsonl.gz", "jsonl.zst", "jsonl"])
    func writtenFilesReadBackAndDecompressWithTheSystemTool(_ suffix: String) throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let path = scratch.path("out." + suffix)
        let file = try OutputFile(path: path, compression: Compression(path: path))
        for line in Self.lines { try file.write(Data((line + "\n").utf8)) }
        try file.finish()
        #expect(try readAll(path) == Self.lines)
        let plain: Data
        switch Compression(path: path) {
        case .gzip: plain = try tool(["gzip", "-dc", path])
        case .zstd: plain = try tool(["zstd", "-dcq", path])
        case .none: plain = try Data(contentsOf: URL(fileURLWithPath: path))
        }
        #expect(plain == Data(Self.text.utf8))
    }

    @Test(arguments: [("gzip", "gz"), ("zstd", "zst")])
    func toolWrittenFilesAndConcatenatedMembersRead(_ compressor: String, _ suffix: String) throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let half = Self.lines.count / 2
        let first = try scratch.write("a.jsonl", Self.lines[..<half].joined(separator: "\n") + "\n")
        let second = try scratch.write("b.jsonl", Self.lines[half...].joined(separator: "\n"))   // no final newline
        var joined = try tool([compressor, "-c", "-q", first])
        joined += try tool([compressor, "-c", "-q", second])
        let path = scratch.path("joined.jsonl." + suffix)
        try joined.write(to: URL(fileURLWithPath: path))
        #expect(try readAll(path) == Self.lines)

        // Cut short: an error naming the truncation, not a silently shorter input.
        let cut = scratch.path("cut.jsonl." + suffix)
        try joined.prefix(joined.count - 40).write(to: URL(fileURLWithPath: cut))
        #expect(throws: BatchError.self) { _ = try readAll(cut) }
    }

    @Test func corruptInputIsAnError() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let gz = try scratch.write("bad.jsonl.gz", "this is not gzip data at all\n")
        let zst = try scratch.write("bad.jsonl.zst", "this is not zstd data at all\n")
        #expect(throws: BatchError.self) { _ = try readAll(gz) }
        #expect(throws: BatchError.self) { _ = try readAll(zst) }
    }
}
