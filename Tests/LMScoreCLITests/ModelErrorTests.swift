import Foundation
import LMScoreEngine
import LMScoreTestSupport
import Testing

/// A broken model directory and what the one-line error must mention.
enum BrokenModel: String, CaseIterable, Sendable {
    case missingDirectory, noConfig, unsupportedModelType, truncatedWeights, noWeights, configNotJSON

    /// Prepares the broken directory inside `temp`; returns its path and the strings stderr must contain.
    func make(in temp: TemporaryDirectory) throws -> (path: String, mentions: [String]) {
        let directory = temp.file("model")
        switch self {
        case .missingDirectory:
            return (directory.path, ["config.json", directory.path])
        case .noConfig:
            try writeTinyCheckpoint(to: directory)
            try FileManager.default.removeItem(at: directory.appendingPathComponent("config.json"))
            return (directory.path, ["config.json"])
        case .unsupportedModelType:
            try writeTinyCheckpoint(to: directory)
            let url = directory.appendingPathComponent("config.json")
            var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            config["model_type"] = "falcon"
            try JSONSerialization.data(withJSONObject: config).write(to: url)
            return (directory.path, ["config.json", "model_type \"falcon\""])
        case .truncatedWeights:
            try writeTinyCheckpoint(to: directory)
            let url = directory.appendingPathComponent("model.safetensors")
            let data = try Data(contentsOf: url)
            try data.prefix(data.count * 2 / 3).write(to: url)
            return (directory.path, ["model.safetensors", "tensor"])
        case .noWeights:
            try writeTinyCheckpoint(to: directory)
            try FileManager.default.removeItem(at: directory.appendingPathComponent("model.safetensors"))
            return (directory.path, ["model.safetensors"])
        case .configNotJSON:
            try writeTinyCheckpoint(to: directory)
            try Data("{ not json".utf8).write(to: directory.appendingPathComponent("config.json"))
            return (directory.path, ["config.json"])
        }
    }
}

@Suite("Bad model directories")
struct ModelErrorTests {
    @Test("every model-loading command: non-zero exit, exactly one line on stderr naming the file",
          arguments: BrokenModel.allCases, ["inspect", "score", "perplexity", "bench"])
    func brokenModel(_ broken: BrokenModel, command: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let (path, mentions) = try broken.make(in: temp)
        let tokens = try temp.write("tokens.txt", "1 2 3 4")
        var arguments = [command, "--model", path]
        var stdin: Data?
        switch command {
        case "score": stdin = Data(#"{"sequences": [[1,2,3]]}"#.utf8)
        case "perplexity": arguments += ["--tokens", tokens]
        case "bench": arguments += ["--shapes", "1x8", "--seconds", "0.05"]
        default: break
        }
        let result = try lmscore(arguments, stdin: stdin)
        #expect(result.status != 0, "\(broken) \(command): \(result)")
        #expect(result.errLines.count == 1, "\(broken) \(command): expected one line on stderr:\n\(result.err)")
        for mention in mentions {
            #expect(result.err.contains(mention), "\(broken) \(command): stderr does not mention \(mention): \(result.err)")
        }
    }

    @Test("a truncated shard of a sharded checkpoint names that shard")
    func truncatedShard() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("model")
        var options = RandomCheckpoint.Options()
        options.shards = 3
        try RandomCheckpoint.write(config: RandomCheckpoint.Preset.tiny.config, options: options, to: directory)
        let shard = directory.appendingPathComponent("model-00002-of-00003.safetensors")
        let data = try Data(contentsOf: shard)
        try data.prefix(data.count / 2).write(to: shard)
        let result = try lmscore(["inspect", "--model", directory.path])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains("model-00002-of-00003.safetensors"), "\(result)")
        #expect(result.err.contains("tensor"), "\(result)")
    }
}
