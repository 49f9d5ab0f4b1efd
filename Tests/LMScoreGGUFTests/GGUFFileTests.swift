import Foundation
import LMScoreGGUF
import Testing

/// The GGUF container: every value type read back as written, tensors at the alignment, and every kind
/// of broken file refused with the byte offset and what is wrong (never a crash).
@Suite("GGUF files")
struct GGUFFileTests {
    static func write(_ writer: GGUFWriter) throws -> String {
        try write(writer.data())
    }

    static func write(_ data: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-gguf-\(UUID().uuidString).gguf").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    static var sample: GGUFWriter {
        var w = GGUFWriter()
        w.metadata = [
            ("general.architecture", .string("llama")),
            ("general.alignment", .u32(64)),
            ("llama.block_count", .u32(2)),
            ("llama.rope.freq_base", .f32(10000.5)),
            ("llama.attention.layer_norm_rms_epsilon", .f64(1e-6)),
            ("tokenizer.ggml.add_bos_token", .bool(true)),
            ("small", .i8(-3)), ("u8", .u8(255)), ("u16", .u16(65535)), ("i16", .i16(-32768)), ("i32", .i32(-7)),
            ("u64", .u64(UInt64.max)), ("i64", .i64(Int64.min)),
            ("tokenizer.ggml.tokens", .array([.string("<s>"), .string("▁a"), .string("é")])),
            ("tokenizer.ggml.scores", .array([.f32(0), .f32(-1.5), .f32(-2)])),
        ]
        let q8Block = [UInt8](repeating: 0, count: 2) + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        w.tensors = [
            ("token_embd.weight", [32, 3], .f32, (0..<96).flatMap { i in withUnsafeBytes(of: Float(i).bitPattern.littleEndian, Array.init) }),
            ("blk.0.attn_q.weight", [32, 2], .q8_0, q8Block + q8Block),
            ("output_norm.weight", [5], .f16, [UInt8](repeating: 0x3c, count: 10)),
        ]
        w.alignment = 64
        return w
    }

    @Test("Every metadata type, tensor descriptions and data at the alignment, read back as written")
    func readsWhatWasWritten() throws {
        let path = try Self.write(Self.sample)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try GGUFFile(path: path)
        #expect(file.version == 3 && file.alignment == 64 && file.dataStart % 64 == 0)
        #expect(file["general.architecture"] == .string("llama"))
        #expect(file["llama.block_count"]?.integer == 2)
        #expect(file["llama.rope.freq_base"] == .float(10000.5))
        #expect(file["llama.attention.layer_norm_rms_epsilon"] == .float(1e-6))
        #expect(file["tokenizer.ggml.add_bos_token"] == .bool(true))
        #expect(file["small"] == .int(-3) && file["u8"] == .uint(255) && file["u16"] == .uint(65535))
        #expect(file["i16"] == .int(-32768) && file["i32"] == .int(-7))
        #expect(file["u64"] == .uint(UInt64.max) && file["i64"] == .int(Int64.min))
        #expect(file["tokenizer.ggml.tokens"] == .array([.string("<s>"), .string("▁a"), .string("é")]))
        #expect(file["tokenizer.ggml.scores"]?.array?.compactMap(\.double) == [0, -1.5, -2])
        #expect(file["absent"] == nil)
        #expect(file.metadata.map(\.key).first == "general.architecture")

        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.dimensions == [32, 3] && embedding.type == .f32 && embedding.byteCount == 384)
        let values = file.bytes(of: embedding).withMemoryRebound(to: Float.self) { Array($0) }
        #expect(values == (0..<96).map(Float.init))
        let q = try #require(file.tensor(named: "blk.0.attn_q.weight"))
        #expect(q.type.name == "Q8_0" && q.byteCount == 68 && q.offset % 64 == 0)
        #expect(Array(file.bytes(of: q))[2...5] == [240, 241, 242, 243])   // -16, -15, -14, -13
        #expect(file.tensor(named: "output_norm.weight")?.byteCount == 10)
        #expect(file.typeMix.map { "\($0.type) \($0.tensors)" } == ["F16 1", "F32 1", "Q8_0 1"])
    }

    @Test("Broken files are refused with the offset and the reason", arguments: [
        ("not GGUF", "not a GGUF file"),
        ("version 1", "GGUF version 1"),
        ("truncated metadata", "truncated?"),
        ("huge array count", "more than the rest of the file"),
        ("unknown value type", "value type 99"),
        ("bad alignment", "general.alignment"),
        ("truncated tensor data", "ends past the end of the file"),
        ("partial block", "do not fill whole blocks"),
        ("too many dimensions", "5 dimensions"),
        ("invalid UTF-8 key", "not UTF-8"),
    ])
    func refusesBrokenFiles(broken: String, expected: String) throws {
        var w = Self.sample
        var data: Data
        switch broken {
        case "not GGUF": data = Data("GGML".utf8) + w.data().dropFirst(4)
        case "version 1": w.version = 1; data = w.data()
        case "truncated metadata":
            w.metadata = [("general.name", .string(String(repeating: "x", count: 100)))]
            w.tensors = []
            data = w.data().prefix(80)
        case "huge array count":
            w.metadata = [("x", .array([.u8(1)]))]
            data = w.data()
            // The array's count (u64 after key, type 9 and item type) becomes 2^40.
            let at = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 4
            data.replaceSubrange(at..<at + 8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian, Array.init))
        case "unknown value type":
            w.metadata = [("x", .u32(1))]
            data = w.data()
            let at = 4 + 4 + 8 + 8 + 8 + 1
            data.replaceSubrange(at..<at + 4, with: withUnsafeBytes(of: UInt32(99).littleEndian, Array.init))
        case "bad alignment": w.metadata = [("general.alignment", .u32(48))]; w.alignment = 48; data = w.data()
        case "truncated tensor data": data = w.data().dropLast(100)
        case "partial block": w.tensors = [("t", [33], .q8_0, [UInt8](repeating: 0, count: 34))]; data = w.data()
        case "too many dimensions": w.tensors = [("t", [1, 1, 1, 1, 1], .f32, [0, 0, 0, 0])]; data = w.data()
        case "invalid UTF-8 key":
            w.metadata = [("ab", .u8(1))]
            data = w.data()
            data[4 + 4 + 8 + 8 + 8] = 0xff
        default: Issue.record("unknown case"); return
        }
        let path = try Self.write(data)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GGUFFile(path: path)
            Issue.record("\(broken): accepted")
        } catch {
            #expect(error.description.contains(expected), "\(broken): \(error)")
            #expect(error.description.contains("at byte"), "\(broken): \(error)")
        }
    }

    @Test("A file that does not exist is named")
    func missingFile() {
        #expect(throws: GGUFError.unreadable(path: "/nonexistent/x.gguf", reason: "No such file or directory")) {
            try GGUFFile(path: "/nonexistent/x.gguf")
        }
    }
}

/// llama.cpp's own vocabulary files (models/ggml-vocab-*.gguf of the llama-cpp-python sdist, which
/// Scripts/check_gguf_vocabularies.sh downloads): every one opens, and its tokenizer arrays agree in
/// length. Runs when LMSCORE_LLAMA_CPP_MODELS names that folder.
@Suite("GGUF files: llama.cpp's vocabularies", .enabled(if: ProcessInfo.processInfo.environment["LMSCORE_LLAMA_CPP_MODELS"] != nil))
struct LlamaCppVocabularyFileTests {
    @Test func everyVocabularyFileOpens() throws {
        let folder = ProcessInfo.processInfo.environment["LMSCORE_LLAMA_CPP_MODELS"]!
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".gguf") }.sorted()
        #expect(names.count >= 10)
        for name in names {
            let file = try GGUFFile(path: folder + "/" + name)
            let tokens = try #require(file["tokenizer.ggml.tokens"]?.array, "\(name): no tokens")
            #expect(file["tokenizer.ggml.token_type"]?.array?.count == tokens.count, "\(name)")
            #expect(file["tokenizer.ggml.model"]?.string != nil, "\(name)")
            print("[gguf] \(name): v\(file.version), \(file.metadata.count) keys, \(tokens.count) tokens, model \(file["tokenizer.ggml.model"]!), pre \(file["tokenizer.ggml.pre"]?.description ?? "-"), \(file.tensors.count) tensors")
        }
    }
}
