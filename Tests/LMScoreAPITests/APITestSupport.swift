import Foundation
import LMScoreAPI
import LMScoreEngine
import Testing

/// The `tiny` preset: vocab 1000, n_positions 64.
let tinyConfig = RandomCheckpoint.Preset.tiny.config

/// One random `tiny` checkpoint shared by the response tests. It is written to a unique temporary
/// directory, loaded (memory-mapped), and the directory is removed at once: the mapping stays valid.
enum TinyModel {
    private static let loaded: Result<Scorer, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("lmscore-apitests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = RandomCheckpoint.Options()
        options.seed = 11
        try RandomCheckpoint.write(config: tinyConfig, options: options, to: directory)
        return Scorer(model: try Checkpoint.load(directory: directory))
    }

    static func scorer() throws -> Scorer { try loaded.get() }
}

/// Decodes `json` against `config` and returns the error it throws (nil when it decodes).
func decodeError(_ json: String, config: ModelConfig = tinyConfig) -> APIError? {
    do {
        _ = try ScoreCall.decode(Data(json.utf8), config: config)
        return nil
    } catch {
        return error
    }
}

/// Decodes, scores on `scorer` and encodes; returns the parsed response object.
func scoreJSON(_ json: String, scorer: Scorer, model: String = "tiny") throws -> [String: Any] {
    let call = try ScoreCall.decode(Data(json.utf8), config: scorer.config)
    let result = scorer.score(batch: [call.request])[0]
    let data = ScoreResponse(model: model, result: result, call: call).jsonData()
    let object = try JSONSerialization.jsonObject(with: data)
    return try #require(object as? [String: Any], "response is not a JSON object: \(String(decoding: data, as: UTF8.self))")
}

/// `[[Int32]]` as JSON text.
func jsonRows(_ rows: [[Int32]]) -> String {
    "[" + rows.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
}

/// `count` ids in [0, vocab) from a fixed-seed LCG (distinct per `seed`).
func tokenRow(_ count: Int, seed: UInt64, vocab: Int = tinyConfig.vocabSize) -> [Int32] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int32((state >> 33) % UInt64(vocab))
    }
}


/// Per-position values of a JSON array: Double, or nil for JSON null.
func doubles(_ value: Any?) throws -> [Double?] {
    let array = try #require(value as? [Any], "not an array: \(String(describing: value))")
    return try array.map { element in
        if element is NSNull { return nil }
        return try #require((element as? NSNumber)?.doubleValue, "not a number: \(element)")
    }
}

func isClose(_ a: Double, _ b: Double, relative: Double = 1e-12) -> Bool {
    abs(a - b) <= relative * max(1, abs(a), abs(b))
}
