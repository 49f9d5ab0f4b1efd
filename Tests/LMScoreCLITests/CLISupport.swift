import Foundation
import LMScoreTestSupport
import LMScoreEngine
import Testing

/// What one run of the executable produced.
struct RunResult: CustomStringConvertible {
    let status: Int32
    let stdout: Data
    let stderr: Data

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }

    /// stderr's lines, without the final newline.
    var errLines: [Substring] {
        var text = Substring(err)
        while text.last == "\n" { text = text.dropLast() }
        return text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: stdout)
        return try #require(object as? [String: Any], "stdout is not a JSON object: \(out)")
    }

    var description: String { "exit \(status)\n--- stdout\n\(out.prefix(2000))\n--- stderr\n\(err.prefix(2000))" }
}

private final class ProcessBox: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}

/// Runs `lmscore ARGS` with `stdin` (or /dev/null) as standard input; output goes through files, so a
/// chatty command cannot fill a pipe and stall. Killed after `timeout` seconds. `environment` entries
/// are added to this process's environment.
func lmscore(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:], timeout: TimeInterval = 60,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
    let binary = try LMScoreBinary.require(sourceLocation: sourceLocation)
    let scratch = try TemporaryDirectory()
    defer { scratch.remove() }
    let outURL = scratch.file("stdout"), errURL = scratch.file("stderr"), inURL = scratch.file("stdin")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    try (stdin ?? Data()).write(to: inURL)
    let outHandle = try FileHandle(forWritingTo: outURL)
    let errHandle = try FileHandle(forWritingTo: errURL)
    let inHandle = try FileHandle(forReadingFrom: inURL)
    defer {
        try? outHandle.close()
        try? errHandle.close()
        try? inHandle.close()
    }

    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = inHandle
    try process.run()
    let box = ProcessBox(process)
    let watchdog = DispatchWorkItem { if box.process.isRunning { box.process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    process.waitUntilExit()
    watchdog.cancel()
    #expect(process.terminationReason == .exit, "lmscore \(arguments.joined(separator: " ")) was killed (timeout \(timeout) s?)",
            sourceLocation: sourceLocation)
    return RunResult(status: process.terminationStatus,
                     stdout: try Data(contentsOf: outURL), stderr: try Data(contentsOf: errURL))
}

/// A random `tiny` checkpoint (vocab 1000, n_positions 64) written in-process.
@discardableResult
func writeTinyCheckpoint(to directory: URL, seed: UInt64 = 3) throws -> ModelConfig {
    var options = RandomCheckpoint.Options()
    options.seed = seed
    let config = RandomCheckpoint.Preset.tiny.config
    try RandomCheckpoint.write(config: config, options: options, to: directory)
    return config
}

/// `count` ids in [0, vocab) from a fixed-seed LCG.
func tokenRow(_ count: Int, seed: UInt64, vocab: Int = 1000) -> [Int32] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int32((state >> 33) % UInt64(vocab))
    }
}

func jsonRows(_ rows: [[Int32]]) -> String {
    "[" + rows.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
}


func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
