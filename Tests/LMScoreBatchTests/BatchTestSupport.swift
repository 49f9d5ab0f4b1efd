import Foundation
import LMScoreEngine
import Testing

/// A random `tiny` checkpoint (vocab 1000, n_positions 64), loaded once for the runner tests.
enum TinyScorer {
    private static let loaded: Result<Scorer, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-batchtests-model-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = RandomCheckpoint.Options()
        options.seed = 5
        try RandomCheckpoint.write(config: RandomCheckpoint.Preset.tiny.config, options: options, to: directory)
        return Scorer(model: try Checkpoint.load(directory: directory), maxTokensPerForward: 256)
    }

    static func get() throws -> Scorer { try loaded.get() }
}

/// Runs a system tool (gzip, zstd) and returns its standard output; the test fails when it fails.
func tool(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(arguments.joined(separator: " ")) failed", sourceLocation: sourceLocation)
    return data
}

/// The JSON objects of a JSONL text, one per line.
func jsonLines(_ data: Data) throws -> [[String: Any]] {
    try data.split(separator: UInt8(ascii: "\n")).map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }
}
