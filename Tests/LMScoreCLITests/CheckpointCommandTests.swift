import Foundation
import LMScoreTestSupport
import Testing

@Suite("lmscore make-checkpoint and inspect")
struct CheckpointCommandTests {
    /// inspect's text output: `key   value` per line.
    func textFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    @Test("make-checkpoint --preset tiny --random, then inspect (text and --json)")
    func tiny() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("tiny").path
        let made = try lmscore(["make-checkpoint", "--preset", "tiny", "--random", "--seed", "1", directory])
        #expect(made.status == 0, "\(made)")
        #expect(made.out.contains("59520 parameters"), "\(made)")
        #expect(FileManager.default.fileExists(atPath: directory + "/config.json"))
        #expect(FileManager.default.fileExists(atPath: directory + "/model.safetensors"))

        let text = try lmscore(["inspect", "--model", directory])
        #expect(text.status == 0, "\(text)")
        let fields = textFields(text.out)
        #expect(fields["parameters"] == "59520", "\(text)")
        #expect(fields["n_positions"] == "64")
        #expect(fields["vocab_size"] == "1000")
        #expect(fields["dtype"] == "F32")
        #expect(fields["files"] == "model.safetensors")
        #expect(fields["tie_word_embeddings"] == "true")

        let json = try lmscore(["inspect", "--model", directory, "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try json.json()
        #expect(object["parameters"] as? Int == 59520)
        #expect(object["n_positions"] as? Int == 64)
        #expect(object["vocab_size"] as? Int == 1000)
        #expect(object["n_embd"] as? Int == 32)
        #expect(object["n_layer"] as? Int == 2)
        #expect(object["n_head"] as? Int == 4)
        #expect(object["dtype"] as? String == "F32")
        #expect(object["tie_word_embeddings"] as? Bool == true)
        #expect(object["model"] as? String == "tiny")
        #expect(json.err.isEmpty, "\(json)")
    }

    @Test("inspect --quantize q8_0 [--leave-lm-head] says what was quantized; bad values are one-line errors")
    func quantize() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("tiny").path
        #expect(try lmscore(["make-checkpoint", "--preset", "tiny", "--random", "--seed", "1", directory]).status == 0)
        let all = try lmscore(["inspect", "--model", directory, "--quantize", "q8_0", "--json"])
        #expect(all.status == 0, "\(all)")
        #expect((try all.json()["quantized_at_load"] as? String)?.hasPrefix("q8_0: 9 matrices, LM head included") == true, "\(all)")
        let body = try lmscore(["inspect", "--model", directory, "--quantize", "q8_0", "--leave-lm-head"])
        #expect(textFields(body.out)["quantized_at_load"]?.hasPrefix("q8_0: 8 matrices, LM head as stored") == true, "\(body)")
        #expect(textFields(try lmscore(["inspect", "--model", directory]).out)["quantized_at_load"] == "none")
        for (arguments, message) in [(["--quantize", "q4_0"], "expected one of none, q8_0"), (["--leave-lm-head"], "needs --quantize q8_0")] {
            let result = try lmscore(["inspect", "--model", directory] + arguments)
            #expect(result.status != 0 && result.err.contains(message) && result.out.isEmpty, "\(result)")
        }
    }

    @Test("score --numerics llama.cpp moves a Q8_0 GELU model's scores (its GELU table); a bad name is a one-line error")
    func numerics() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("tiny").path
        #expect(try lmscore(["make-checkpoint", "--preset", "tiny", "--random", "--seed", "1", directory]).status == 0)
        let body = Data(#"{"sequences": [[5, 9, 2, 7, 1, 3]], "top_k": 1}"#.utf8)
        var logprobs: [String: [Double]] = [:]
        for numerics in ["transformers", "llama.cpp"] {
            let result = try lmscore(["score", "--model", directory, "--quantize", "q8_0", "--numerics", numerics], stdin: body)
            #expect(result.status == 0, "\(result)")
            let rows = try result.json()["results"] as? [[String: Any]]
            logprobs[numerics] = (rows?.first?["logprobs"] as? [Any])?.compactMap { $0 as? Double }
        }
        #expect(logprobs["transformers"]?.count == 5 && logprobs["llama.cpp"]?.count == 5)
        #expect(logprobs["transformers"] != logprobs["llama.cpp"])
        #expect(textFields(try lmscore(["inspect", "--model", directory]).out)["numerics"] == "transformers")
        #expect(textFields(try lmscore(["inspect", "--model", directory, "--numerics", "llama.cpp"]).out)["numerics"] == "llama.cpp")
        let bad = try lmscore(["score", "--model", directory, "--numerics", "ggml"], stdin: body)
        #expect(bad.status != 0 && bad.err.contains("expected one of transformers, llama.cpp") && bad.out.isEmpty, "\(bad)")
    }

    @Test("the same seed writes the same bytes; another seed does not")
    func deterministic() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        for (name, seed) in [("a", "5"), ("b", "5"), ("c", "6")] {
            let made = try lmscore(["make-checkpoint", "--preset", "tiny", "--random", "--seed", seed, temp.file(name).path])
            try #require(made.status == 0, "\(made)")
        }
        let a = try Data(contentsOf: temp.file("a/model.safetensors"))
        let b = try Data(contentsOf: temp.file("b/model.safetensors"))
        let c = try Data(contentsOf: temp.file("c/model.safetensors"))
        #expect(a == b)
        #expect(a != c)
    }

    @Test("make-checkpoint --dtype BF16 --untied --no-prefix --shards 3")
    func shardedBF16() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("bf16")
        let made = try lmscore(["make-checkpoint", "--preset", "tiny", "--random", "--seed", "1", "--dtype", "BF16",
                                "--untied", "--no-prefix", "--shards", "3", directory.path])
        #expect(made.status == 0, "\(made)")
        let fm = FileManager.default
        let indexURL = directory.appendingPathComponent("model.safetensors.index.json")
        #expect(fm.fileExists(atPath: indexURL.path))
        #expect(!fm.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path))
        for shard in 1...3 {
            #expect(fm.fileExists(atPath: directory.appendingPathComponent(String(format: "model-%05d-of-00003.safetensors", shard)).path))
        }
        let index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any])
        let weightMap = try #require(index["weight_map"] as? [String: String])
        #expect(weightMap["lm_head.weight"] != nil, "untied: lm_head.weight in the index")
        #expect(weightMap["wte.weight"] != nil, "no prefix: wte.weight, not transformer.wte.weight")
        #expect(!weightMap.keys.contains { $0.hasPrefix("transformer.") })
        #expect(Set(weightMap.values).count == 3)

        let json = try lmscore(["inspect", "--model", directory.path, "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try json.json()
        #expect(object["dtype"] as? String == "BF16")
        #expect(object["tie_word_embeddings"] as? Bool == false)
        #expect(object["parameters"] as? Int == 59520 + 1000 * 32, "untied head adds vocab × n_embd")
        #expect((object["files"] as? String)?.components(separatedBy: ", ").count == 3)

        let text = try lmscore(["inspect", "--model", directory.path])
        #expect(text.status == 0)
        #expect(textFields(text.out)["dtype"] == "BF16", "\(text)")

        // The sharded BF16 checkpoint scores.
        let scored = try lmscore(["score", "--model", directory.path], stdin: Data(#"{"sequences": [[1,2,3]]}"#.utf8))
        #expect(scored.status == 0, "\(scored)")
    }

    @Test("make-checkpoint without --random: non-zero exit, one line on stderr, nothing written")
    func missingRandom() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("x")
        let result = try lmscore(["make-checkpoint", "--preset", "tiny", directory.path])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "expected one line on stderr:\n\(result.err)")
        #expect(result.err.contains("--random"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }

    @Test("make-checkpoint with an unknown preset: non-zero exit naming the preset")
    func unknownPreset() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let result = try lmscore(["make-checkpoint", "--preset", "gpt5", "--random", temp.file("x").path])
        #expect(result.status != 0, "\(result)")
        #expect(result.err.contains("gpt5"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: temp.file("x").path))
    }

    @Test("make-checkpoint with an unknown dtype or zero shards: non-zero exit", arguments: [
        ["--dtype", "F64"], ["--shards", "0"],
    ])
    func badOptions(_ extra: [String]) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let result = try lmscore(["make-checkpoint", "--preset", "tiny", "--random"] + extra + [temp.file("x").path])
        #expect(result.status != 0, "\(result)")
        #expect(!result.err.isEmpty)
    }
}

@Suite("lmscore make-checkpoint presets of other families")
struct FamilyPresetCommandTests {
    @Test("llama-tiny, qwen2-tiny, neox-tiny: written, inspected, scored; --context sets the window", arguments: [
        ("llama-tiny", "llama", "swiglu"), ("qwen2-tiny", "qwen2", "swiglu"), ("neox-tiny", "gpt_neox", "gelu"),
    ])
    func preset(name: String, modelType: String, mlp: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file(name).path
        let made = try lmscore(["make-checkpoint", "--preset", name, "--random", "--dtype", "BF16", directory])
        #expect(made.status == 0, "\(made)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: temp.file(name + "/config.json"))) as? [String: Any])
        #expect(config["model_type"] as? String == modelType)

        let json = try lmscore(["inspect", "--model", directory, "--json", "--context", "40"])
        #expect(json.status == 0, "\(json)")
        let object = try json.json()
        #expect(object["model_type"] as? String == modelType)
        #expect(object["mlp"] as? String == mlp)
        #expect(object["n_positions"] as? Int == 40)
        #expect(object["max_position_embeddings"] as? Int == 128)
        #expect((object["positions"] as? String)?.hasPrefix("rotary") == true)

        let scored = try lmscore(["score", "--model", directory, "--context", "16"], stdin: Data(#"{"sequences": [[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]]}"#.utf8))
        #expect(scored.status == 0, "\(scored)")
        #expect(scored.out.contains("\"windows\":2") || scored.out.contains("\"windows\": 2"), "\(scored)")

        let tooLong = try lmscore(["inspect", "--model", directory, "--context", "129"])
        #expect(tooLong.status != 0)
        #expect(tooLong.err.contains("context 129 must be between 1 and the checkpoint's 128 positions"), "\(tooLong)")
    }
}
