import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// Every way a model directory can be wrong gives a `CheckpointError` naming the file (and tensor),
/// never a crash; every supported layout loads to the same numbers.
@Suite("Checkpoint loading")
struct CheckpointTests {
    func load(_ directory: URL) throws -> DecoderModel { try Checkpoint.load(directory: directory) }

    /// Runs `body` and returns the CheckpointError it throws.
    func checkpointError(_ body: () throws -> Void) -> CheckpointError? {
        do { try body() } catch let error as CheckpointError { return error } catch { return nil }
        return nil
    }

    /// Rewrites one tensor entry of model.safetensors' header, keeping the data.
    func editHeader(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let data = try Data(contentsOf: url)
        let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as! [String: Any]
        edit(&header)
        var newHeader = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while newHeader.count < length { newHeader.append(UInt8(ascii: " ")) }
        try #require(newHeader.count == length, "edited header must keep its length")
        var out = data.prefix(8)
        out.append(newHeader)
        out.append(data.suffix(from: 8 + length))
        try out.write(to: url)
    }

    @Test func missingDirectoryAndFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(checkpointError { _ = try load(dir.file("nope")) } == .missingFile(dir.file("nope/config.json").path))
        try makeCheckpoint(into: dir.url)
        try FileManager.default.removeItem(at: dir.file("model.safetensors"))
        let error = checkpointError { _ = try load(dir.url) }
        guard case .missingFile(let path)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path.contains("model.safetensors"))
    }

    @Test func badConfigs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(into: dir.url)
        let configURL = dir.file("config.json")
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        func withConfig(_ edit: (inout [String: Any]) -> Void) throws -> CheckpointError? {
            var config = original
            edit(&config)
            try JSONSerialization.data(withJSONObject: config).write(to: configURL)
            return checkpointError { _ = try load(dir.url) }
        }
        let path = configURL.path
        #expect(try withConfig { $0["model_type"] = "falcon" }
            == .unsupportedModel(path: path, reason: "model_type \"falcon\"; lmscore runs \(Families.modelTypes.joined(separator: ", "))"))
        #expect(try withConfig { $0["n_head"] = 5 } == .badConfig(path: path, reason: "n_embd 32 is not divisible by n_head 5"))
        #expect(try withConfig { $0.removeValue(forKey: "n_layer") } == .badConfig(path: path, reason: "missing key \"n_layer\""))
        #expect(try withConfig { $0["vocab_size"] = -3 } == .badConfig(path: path, reason: "\"vocab_size\" must be a positive integer"))
        #expect(try withConfig { $0["activation_function"] = "relu" }
            == .unsupportedModel(path: path, reason: "activation_function \"relu\"; supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu"))
        #expect(try withConfig { $0["add_cross_attention"] = true }
            == .unsupportedModel(path: path, reason: "add_cross_attention is true (encoder-decoder GPT-2)"))
        try Data("not json".utf8).write(to: configURL)
        #expect(checkpointError { _ = try load(dir.url) } == .badConfig(path: path, reason: "not a JSON object"))
    }

    @Test func truncatedAndCorruptFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(into: dir.url)
        let weights = dir.file("model.safetensors")
        let full = try Data(contentsOf: weights)

        // Truncated download: the last tensor's data runs past the end of the file.
        try full.prefix(full.count - 100).write(to: weights)
        let truncated = checkpointError { _ = try load(dir.url) }
        guard case .truncated(let path, let tensor, _)? = truncated else { Issue.record("got \(String(describing: truncated))"); return }
        #expect(path == weights.path)
        #expect(tensor.hasPrefix("transformer."))

        // Shorter than the length field; a header length beyond the file; a header that is not JSON.
        try full.prefix(5).write(to: weights)
        #expect(checkpointError { _ = try load(dir.url) } == .badHeader(path: weights.path, reason: "file is 5 bytes, too short"))
        var huge = full
        huge.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
        try huge.write(to: weights)
        guard case .badHeader? = checkpointError({ _ = try load(dir.url) }) else { Issue.record("huge header accepted"); return }
        var garbled = full
        garbled[8] = UInt8(ascii: "x")
        try garbled.write(to: weights)
        #expect(checkpointError { _ = try load(dir.url) } == .badHeader(path: weights.path, reason: "header is not a JSON object"))
    }

    @Test func missingTensorWrongShapeAndDType() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(into: dir.url)
        let weights = dir.file("model.safetensors")
        let pristine = try Data(contentsOf: weights)

        try editHeader(weights) { $0["transformer.h.1.mlp.c_fc.biaX"] = $0.removeValue(forKey: "transformer.h.1.mlp.c_fc.bias") }
        #expect(checkpointError { _ = try load(dir.url) } == .missingTensor(name: "h.1.mlp.c_fc.bias", searched: ["model.safetensors"]))

        try pristine.write(to: weights)
        try editHeader(weights) {
            var entry = $0["transformer.h.0.attn.c_attn.weight"] as! [String: Any]
            entry["shape"] = [96, 32]
            $0["transformer.h.0.attn.c_attn.weight"] = entry
        }
        #expect(checkpointError { _ = try load(dir.url) }
            == .wrongShape(path: weights.path, tensor: "transformer.h.0.attn.c_attn.weight", expected: [32, 96], found: [96, 32]))

        try pristine.write(to: weights)
        try editHeader(weights) {
            var entry = $0["transformer.ln_f.bias"] as! [String: Any]
            entry["dtype"] = "I32"
            $0["transformer.ln_f.bias"] = entry
        }
        #expect(checkpointError { _ = try load(dir.url) }
            == .unsupportedDType(path: weights.path, tensor: "transformer.ln_f.bias", dtype: "I32"))

        // A byte count that does not match shape × dtype.
        try pristine.write(to: weights)
        try editHeader(weights) {
            var entry = $0["transformer.ln_f.bias"] as! [String: Any]
            entry["dtype"] = "F16"
            $0["transformer.ln_f.bias"] = entry
        }
        guard case .badHeader(_, let reason)? = checkpointError({ _ = try load(dir.url) }) else { Issue.record("size mismatch accepted"); return }
        #expect(reason.contains("transformer.ln_f.bias"))
    }

    @Test func untiedConfigNeedsItsHead() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeCheckpoint(into: dir.url)
        let configURL = dir.file("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["tie_word_embeddings"] = false
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        #expect(checkpointError { _ = try load(dir.url) } == .missingTensor(name: "lm_head.weight", searched: ["model.safetensors"]))
    }

    @Test func shardedPrefixFreeAndSingleFileScoreIdentically() throws {
        let single = try TemporaryDirectory(), sharded = try TemporaryDirectory()
        defer { single.remove(); sharded.remove() }
        try makeCheckpoint(seed: 3, into: single.url)
        try makeCheckpoint(seed: 3, prefixed: false, shards: 4, into: sharded.url)
        #expect(FileManager.default.fileExists(atPath: sharded.file("model.safetensors.index.json").path))
        let request = ScoringRequest(rows: .sequences(randomRows(count: 3, length: 20, vocab: 1000, seed: 1)), topK: 3)
        let a = try Scorer(model: load(single.url)).score(request)
        let b = try Scorer(model: load(sharded.url)).score(request)
        #expect(a == b)
    }

    @Test("F16 and BF16 matrices stay 16-bit, mapped in place, and convert exactly: same scores as F32 holding the same rounded values",
          arguments: [TensorDType.f16, .bf16])
    func halfPrecisionUpcast(dtype: TensorDType) throws {
        let half = try TemporaryDirectory(), full = try TemporaryDirectory()
        defer { half.remove(); full.remove() }
        try makeCheckpoint(dtype: dtype, seed: 5, into: half.url)
        let halfModel = try load(half.url)
        #expect(halfModel.summary.dtypes == [dtype.rawValue])
        // The matrices are mapped as stored; only the vectors (biases, norms, positions) are upcast copies.
        #expect(halfModel.summary.mappedBytes > 0 && halfModel.summary.copiedBytes < halfModel.summary.mappedBytes)

        // Re-store the upcast values as F32 and compare scores: they must be bit-identical.
        let file = try SafeTensorsFile(path: half.file("model.safetensors").path)
        let storage = WeightStorage()
        let tensors = try file.entries.values.map { entry in
            let pointer = try storage.floats(of: entry, in: file)
            let count = entry.shape.reduce(1, *)
            return SafeTensorsWriter.Tensor(name: entry.name, shape: entry.shape, values: UnsafeBufferPointer(start: pointer, count: count))
        }
        try FileManager.default.copyItem(at: half.file("config.json"), to: full.file("config.json"))
        try SafeTensorsWriter.write(tensors, dtype: .f32, to: full.file("model.safetensors"))
        let fullModel = try load(full.url)
        #expect(fullModel.summary.copiedBytes == 0, "F32 must be memory-mapped, not copied")

        let request = ScoringRequest(rows: .sequences(randomRows(count: 2, length: 30, vocab: 1000, seed: 2)))
        #expect(try Scorer(model: halfModel).score(request) == Scorer(model: fullModel).score(request))
    }

    @Test func causalMaskBuffersAreRecognised() {
        #expect(Checkpoint.isCausalMaskBuffer("h.3.attn.bias"))
        #expect(Checkpoint.isCausalMaskBuffer("h.11.attn.masked_bias"))
        #expect(!Checkpoint.isCausalMaskBuffer("h.3.attn.c_attn.bias"))
        #expect(!Checkpoint.isCausalMaskBuffer("h.3.attn.c_proj.bias"))
        #expect(!Checkpoint.isCausalMaskBuffer("ln_f.bias"))
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(SafeTensorsWriter.bfloat16Bits(1.0) == 0x3F80)
        #expect(SafeTensorsWriter.bfloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie → even
        #expect(SafeTensorsWriter.bfloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie → even
        #expect(SafeTensorsWriter.bfloat16Bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
    }
}
