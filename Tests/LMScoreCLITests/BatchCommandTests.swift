import Foundation
import LMScoreTestSupport
import Testing

/// `lmscore batch` as a user runs it, on the bundled model: standard input and output, compressed
/// files, shard processes merged, and SIGKILL at random points followed by reruns.
@Suite(.serialized)
struct BatchCommandTests {
    static let words = "the a of and to in is was for on that with as by at from it his an were are which this be or has had not but they".split(separator: " ")

    /// `count` lines of every kind: /score texts, /v1/completions, /tokenize, and bad lines.
    static func input(count: Int, seed: Int = 0) -> String {
        var lines: [String] = []
        for i in 0..<count {
            let text = { (n: Int, k: Int) in (0..<n).map { String(words[($0 * 7 + k * 13 + i * 5 + seed) % words.count]) }.joined(separator: " ") }
            switch i % 9 {
            case 2: lines.append(#"{"custom_id":"c\#(i)","method":"POST","url":"/v1/completions","body":{"prompt":"\#(text(12, 1))","echo":true,"logprobs":2,"max_tokens":1}}"#)
            case 4: lines.append(#"{"custom_id":"c\#(i)","method":"POST","url":"/tokenize","body":{"texts":["\#(text(5, 2))"],"offsets":true}}"#)
            case 7: lines.append(i % 2 == 0 ? "{broken" : #"{"custom_id":"c\#(i)","method":"POST","url":"/score","body":{"texts":[""]}}"#)
            default:
                let texts = (0...(i % 3)).map { "\"" + text(8 + (i * 5) % 30, $0) + "\"" }.joined(separator: ",")
                lines.append(#"{"custom_id":"c\#(i)","method":"POST","url":"/score","body":{"texts":[\#(texts)],"top_k":1}}"#)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func standardInputToStandardOutputMatchesTheFileRun() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let text = Self.input(count: 30).split(separator: "\n").filter { !$0.contains("/v1/completions") }.joined(separator: "\n") + "\n"
        let input = try dir.write("in.jsonl", text)
        let piped = try lmscore(["batch", "-i", "-", "-o", "-", "--quiet"], stdin: Data(text.utf8))
        #expect(piped.status == 0, "\(piped)")
        #expect(piped.stderr.isEmpty)
        let file = try lmscore(["batch", "-i", input, "-o", dir.file("out.jsonl").path, "--summary", dir.file("s.json").path])
        #expect(file.status == 0, "\(file)")
        #expect(file.err.contains("lines:") && file.err.contains("tokens/s"))
        #expect(piped.stdout == (try Data(contentsOf: dir.file("out.jsonl"))))
        let lines = piped.out.split(separator: "\n")
        #expect(lines.count == text.split(separator: "\n").count)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.file("s.json"))) as? [String: Any])
        #expect(summary["lines"] as? Int == lines.count)
        #expect((summary["errors"] as? [String: Int])?.values.reduce(0, +) == lines.filter { !$0.contains("\"status_code\":200") }.count)
    }

    @Test func fourShardProcessesMergeToTheUnshardedBytes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let plain = try dir.write("in.jsonl", Self.input(count: 48))
        let compress = Process()
        compress.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compress.arguments = ["zstd", "-q", plain, "-o", plain + ".zst"]
        try compress.run()
        compress.waitUntilExit()
        let input = plain + ".zst"
        // Packed with the default budget: each shard packs a row among other neighbours than the
        // unsharded run, and the bytes still match because the kernels are batch-invariant bit for bit
        // (ARCHITECTURE.md, Numerics).
        let whole = try lmscore(["batch", "-i", input, "-o", dir.file("whole.jsonl").path, "--quiet"])
        #expect(whole.status == 0, "\(whole)")
        let binary = try LMScoreBinaryProcess.url()
        let shards = try (0..<4).map { i in
            try LMScoreBinaryProcess.start(binary, ["batch", "-i", input, "-o", dir.file("part-\(i).jsonl.gz").path, "--shard", "\(i)/4",
                                                    "--quiet"])
        }
        for shard in shards {
            shard.waitUntilExit()
            #expect(shard.terminationStatus == 0)
        }
        let merged = try lmscore(["batch", "--merge", "-o", dir.file("merged.jsonl.zst").path] + (0..<4).map { dir.file("part-\($0).jsonl.gz").path })
        #expect(merged.status == 0, "\(merged)")
        let unpack = try lmscore(["batch", "--merge", "-o", "-", dir.file("merged.jsonl.zst").path])
        #expect(unpack.stdout == (try Data(contentsOf: dir.file("whole.jsonl"))))
    }

    /// 20 trials: kill -9 at a random point of a run (once, or twice when the first left work), rerun the
    /// same command, and the output must be the uninterrupted run's, byte for byte, with nothing left behind.
    ///
    /// A point is a random number of input lines checkpointed (from none, i.e. while the model loads,
    /// to all, i.e. while the chunks are joined or after the end), then a random part of the time three
    /// lines take. Points measured in progress, not seconds, land mid-run however busy the machine is:
    /// with a sleep drawn from one timed run, a CI run whose timed run was slowed by the suites beside
    /// it had 8 of 30 kills land after the end.
    @Test func sigkillAtRandomPointsThenRerunGivesTheUninterruptedOutput() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lineCount = 80
        let input = try dir.write("in.jsonl", Self.input(count: lineCount, seed: 3))
        let arguments = { (output: String) in
            ["batch", "-i", input, "-o", output, "--checkpoint-lines", "3", "--max-batch-tokens", "300", "--quiet"]
        }
        // The jitter: three lines' share of the reference run's time from its first checkpoint to its
        // end, watched as the trials watch theirs — the process start and the model load left out, which
        // on a fast CPU are most of a run (timed from the start, the jitter let a third of the kills
        // land after the end).
        let binary = try LMScoreBinaryProcess.url()
        let referencePath = dir.file("reference.jsonl.gz").path
        let reference = try LMScoreBinaryProcess.start(binary, arguments(referencePath))
        var firstCheckpoint: Date?
        while reference.isRunning {
            if firstCheckpoint == nil, Self.linesCheckpointed(referencePath) > 0 { firstCheckpoint = Date() }
            Thread.sleep(forTimeInterval: 0.0005)
        }
        let end = Date()
        reference.waitUntilExit()
        #expect(reference.terminationStatus == 0, "the reference run exited with \(reference.terminationStatus)")
        let chunks = Double((lineCount + 2) / 3)
        let threeLineSeconds = end.timeIntervalSince(try #require(firstCheckpoint, "no checkpoint seen")) / (chunks - 1)
        let expected = try lmscore(["batch", "--merge", "-o", "-", referencePath]).stdout
        #expect(expected.split(separator: UInt8(ascii: "\n")).count == lineCount)

        var generator = SystemRandomNumberGenerator()
        var kills = 0, killedMidway = 0
        for trial in 0..<20 {
            let output = dir.file("trial-\(trial).jsonl.gz").path
            // A run killed after it renamed the output and removed its checkpoints had finished.
            let finished = { FileManager.default.fileExists(atPath: output) && !FileManager.default.fileExists(atPath: output + ".parts") }
            for _ in 0..<(trial % 2 == 0 ? 1 : 2) where !finished() {
                let target = Int.random(in: Self.linesCheckpointed(output)...lineCount, using: &generator)
                let process = try LMScoreBinaryProcess.start(binary, arguments(output))
                let deadline = Date().addingTimeInterval(60)
                while process.isRunning, Self.linesCheckpointed(output) < target, Date() < deadline {
                    Thread.sleep(forTimeInterval: 0.001)
                }
                Thread.sleep(forTimeInterval: Double.random(in: 0...threeLineSeconds, using: &generator))
                kills += 1
                if process.isRunning { kill(process.processIdentifier, SIGKILL); killedMidway += 1 }
                process.waitUntilExit()
            }
            if !finished() {
                let rerun = try lmscore(arguments(output))
                #expect(rerun.status == 0, "trial \(trial): \(rerun)")
            }
            let got = try lmscore(["batch", "--merge", "-o", "-", output]).stdout
            #expect(got == expected, "trial \(trial): the resumed output differs from the uninterrupted run")
            #expect(!FileManager.default.fileExists(atPath: output + ".parts"))
        }
        print("[timing] \(killedMidway) of \(kills) kills landed mid-run (jitter up to \(String(format: "%.0f", threeLineSeconds * 1000)) ms)")
        #expect(killedMidway * 3 >= kills * 2, "most kills should land while a run is working")
    }

    /// Input lines covered by the finished chunks in OUTPUT.parts (`<first>-<end>.jsonl`), 0 when
    /// there is no parts directory (not started, or finished). Read-only on purpose: it watches a live
    /// run, so it cannot use `CheckpointedOutput.completedLines`, which deletes `.tmp` chunks (the one
    /// being written) and throws on a gap.
    static func linesCheckpointed(_ output: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output + ".parts")) ?? []
        return names.reduce(0) { total, name in
            guard name.hasSuffix(".jsonl") else { return total }
            let bounds = name.dropLast(".jsonl".count).split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? total + bounds[1] - bounds[0] : total
        }
    }

    @Test func duplicateCustomIDsStopTheRunNamingBothLines() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let line = #"{"custom_id":"same","method":"POST","url":"/tokenize","body":{"text":"x"}}"#
        let input = try dir.write("in.jsonl", [line, line.replacingOccurrences(of: "same", with: "other"), line].joined(separator: "\n"))
        let run = try lmscore(["batch", "-i", input, "-o", dir.file("out.jsonl").path])
        #expect(run.status == 1)
        #expect(run.err.contains("duplicate custom_id \"same\" on lines 1 and 3"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.jsonl.parts").path))
    }
}

/// Starting `lmscore` without waiting, for the tests that run several at once or kill one.
enum LMScoreBinaryProcess {
    static func url() throws -> URL { try LMScoreBinary.require() }

    static func start(_ binary: URL, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
