import Foundation
import LMScoreAPI
import LMScoreBatch
import LMScoreEngine
import LMScoreTestSupport
import Testing

/// `BatchRunner` in-process on the random tiny model: answers in input order, each body exactly the
/// endpoint's, bad lines answered and the run going on, duplicates refused up front, shards and merge.
struct BatchRunnerTests {
    static func row(_ count: Int, seed: Int) -> String {
        "[" + (0..<count).map { String(($0 * 37 + seed * 101) % 1000) }.joined(separator: ",") + "]"
    }

    /// `count` /score lines (1–3 sequences of 5–60 tokens), with bad lines mixed in at fixed places.
    static func input(count: Int) -> String {
        var lines: [String] = []
        for i in 0..<count {
            switch i % 10 {
            case 3: lines.append("{not json")
            case 6: lines.append(#"{"custom_id":"r\#(i)","method":"POST","url":"/score","body":{"sequences":[[1,2,5000]]}}"#)   // id out of range: 422
            case 8: lines.append(#"{"custom_id":"r\#(i)","method":"GET","url":"/score","body":{}}"#)
            default:
                let rows = (0...(i % 3)).map { row(5 + (i * 7) % 56, seed: i + $0) }.joined(separator: ",")
                lines.append(#"{"custom_id":"r\#(i)","method":"POST","url":"/score","body":{"sequences":[\#(rows)],"top_k":2}}"#)
            }
            if i % 17 == 5 { lines.append("") }   // blank lines: skipped
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func run(_ input: String, output: String, shard: Shard = .whole, maxBatchTokens: Int = 400) throws -> BatchSummary {
        let scorer = try TinyScorer.get()
        var options = BatchOptions(input: input, output: output)
        options.shard = shard
        options.maxBatchTokens = maxBatchTokens
        options.checkpointLines = 7
        return try BatchRunner(options: options, scorer: scorer, modelName: "tiny", tokenizer: nil).run(progressMode: .quiet)
    }

    @Test func everyLineAnsweredInOrderWithTheEndpointsBody() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let text = Self.input(count: 40)
        let input = try scratch.write("in.jsonl", text)
        let summary = try run(input, output: scratch.path("out.jsonl"))
        #expect(summary.lines == 40)
        #expect(summary.errors == ["invalid_json": 4, "invalid_value": 4, "invalid_method": 4])
        #expect(summary.forwardBatches > 1)   // 400-token budget: several scorer calls
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out.jsonl.parts")))

        let outputs = try jsonLines(try Data(contentsOf: URL(fileURLWithPath: scratch.path("out.jsonl"))))
        let inputs = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().filter { !$0.element.isEmpty }
        #expect(outputs.count == inputs.count)
        let scorer = try TinyScorer.get()
        for (output, (index, line)) in zip(outputs, inputs) {
            #expect(output["id"] as? String == "batch_req_\(index + 1)")
            let envelope = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if envelope == nil || envelope?["method"] as? String != "POST" {
                #expect(output["response"] is NSNull)
                let error = try #require(output["error"] as? [String: Any])
                #expect(error["line"] as? Int == index + 1)
                continue
            }
            #expect(output["custom_id"] as? String == envelope?["custom_id"] as? String)
            #expect(output["error"] is NSNull)
            let response = try #require(output["response"] as? [String: Any])
            // The body the endpoint itself answers for this request body, scored alone.
            let body = try JSONSerialization.data(withJSONObject: envelope!["body"]!)
            let expectedBody: Data
            switch Result(catching: { () throws(APIError) in try ScoreCall.decode(body, config: scorer.config) }) {
            case .success(let call):
                #expect(response["status_code"] as? Int == 200)
                let result = scorer.score(batch: [call.request])[0]
                expectedBody = ScoreResponse(model: "tiny", result: result, call: call).jsonData()
            case .failure(let error):
                #expect(response["status_code"] as? Int == error.status)
                expectedBody = error.jsonBody
            }
            let expected = try #require(try JSONSerialization.jsonObject(with: expectedBody) as? [String: Any])
            let got = try #require(response["body"] as? [String: Any])
            #expect(Set(got.keys) == Set(expected.keys))
            if let expectedError = expected["error"] {
                #expect(NSDictionary(dictionary: got["error"] as! [String: Any]).isEqual(to: expectedError as! [String: Any]))
            } else {
                // Packed with other lines vs alone: equal up to BLAS rounding (ARCHITECTURE.md, Numerics).
                let gotRows = try #require(got["results"] as? [[String: Any]])
                let expectedRows = try #require(expected["results"] as? [[String: Any]])
                #expect(gotRows.count == expectedRows.count)
                for (a, b) in zip(gotRows, expectedRows) {
                    let x = try #require(a["logprobs"] as? [Any]), y = try #require(b["logprobs"] as? [Any])
                    #expect(x.count == y.count)
                    for (p, q) in zip(x, y) {
                        if let p = p as? Double, let q = q as? Double { #expect(abs(p - q) < 1e-4) } else { #expect(p is NSNull && q is NSNull) }
                    }
                }
            }
        }
    }

    @Test func duplicateCustomIDsAreRefusedBeforeAnyWork() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let line = { (id: String) in #"{"custom_id":"\#(id)","method":"POST","url":"/score","body":{"sequences":[[1,2,3]]}}"# }
        let input = try scratch.write("in.jsonl", [line("a"), line("b"), "", line("c"), line("b")].joined(separator: "\n"))
        #expect(throws: BatchError("duplicate custom_id \"b\" on lines 2 and 5")) { try run(input, output: scratch.path("out.jsonl")) }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out.jsonl")))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("out.jsonl.parts")))
    }

    /// A run killed while it made its parts directory (`.parts.new`, no run.json yet) or while it
    /// removed it (`.parts.old`) leaves only those: the rerun removes them and starts over. (The CI's
    /// SIGKILL trials once hit the first window, when the directory was made in place.)
    @Test func leftoversOfAKilledSetupOrCleanupAreRemoved() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let input = try scratch.write("in.jsonl", Self.input(count: 12))
        let output = scratch.path("out.jsonl")
        try FileManager.default.createDirectory(atPath: output + ".parts.new", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: output + ".parts.old", withIntermediateDirectories: false)
        _ = try scratch.write("out.jsonl.parts.old/000000000000-000000000003.jsonl", "stale\n")
        #expect(try run(input, output: output).lines == 12)
        for name in ["out.jsonl.parts", "out.jsonl.parts.new", "out.jsonl.parts.old"] {
            #expect(!FileManager.default.fileExists(atPath: scratch.path(name)), "\(name) left behind")
        }
        // A parts directory without its run.json is not one this code leaves: refused, not guessed at.
        try FileManager.default.createDirectory(atPath: scratch.path("other.jsonl.parts"), withIntermediateDirectories: false)
        #expect(throws: BatchError.self) { try run(input, output: scratch.path("other.jsonl")) }
    }

    @Test func shardsMergedEqualTheUnshardedRun() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let plain = try scratch.write("in.jsonl", Self.input(count: 30))
        let input = plain + ".zst"
        _ = try tool(["zstd", "-q", plain, "-o", input])
        // Packed as the budget allows (400 tokens per call): each shard packs a row among different
        // neighbours than the unsharded run does, and the kernels' batch invariance makes the bytes match.
        _ = try run(input, output: scratch.path("whole.jsonl"))
        var parts: [String] = []
        var lines = 0
        for i in 0..<3 {
            parts.append(scratch.path("part-\(i).jsonl.gz"))
            lines += try run(input, output: parts[i], shard: Shard(index: i, count: 3)).lines
        }
        #expect(lines == 30)
        #expect(try BatchMerge.merge(parts, into: scratch.path("merged.jsonl")) == 30)
        let whole = try Data(contentsOf: URL(fileURLWithPath: scratch.path("whole.jsonl")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("merged.jsonl"))) == whole)
        // Overlapping inputs are refused.
        #expect(throws: BatchError.self) { try BatchMerge.merge([parts[0], parts[0]], into: scratch.path("bad.jsonl")) }
    }

    /// Lines longer than the tiny model's context (n_positions 64): where no sliding window applies the
    /// line gets its 422 `context_length_exceeded` naming n_positions and the run goes on; a long
    /// `sequences` row is scored in windows, every token after the first.
    @Test func linesLongerThanTheContextAreRefusedNotTruncated() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        func line(_ id: String, _ url: String, _ body: String) -> String {
            #"{"custom_id":"\#(id)","method":"POST","url":"\#(url)","body":\#(body)}"#
        }
        let lines = [
            line("inputs", "/score", #"{"inputs":[\#(Self.row(65, seed: 1))],"targets":[\#(Self.row(65, seed: 2))]}"#),
            line("choices", "/score", #"{"choices":[{"context":\#(Self.row(60, seed: 3)),"continuations":[[1],\#(Self.row(5, seed: 4))]}]}"#),
            line("prompt", "/v1/completions", #"{"prompt":\#(Self.row(64, seed: 5)),"echo":true,"max_tokens":1}"#),
            line("prompts", "/v1/completions", #"{"prompt":[[1,2],\#(Self.row(65, seed: 6))],"echo":true,"max_tokens":0}"#),
            line("windows", "/score", #"{"sequences":[\#(Self.row(150, seed: 7))]}"#),
        ]
        let input = try scratch.write("in.jsonl", lines.joined(separator: "\n") + "\n")
        let summary = try run(input, output: scratch.path("out.jsonl"))
        #expect(summary.errors == ["context_length_exceeded": 4])
        let outputs = try jsonLines(try Data(contentsOf: URL(fileURLWithPath: scratch.path("out.jsonl"))))
        #expect(outputs.count == 5)
        let params = ["inputs": "inputs[0]", "choices": "choices[0].continuations[1]", "prompt": "prompt", "prompts": "prompt[1]"]
        for output in outputs {
            let id = try #require(output["custom_id"] as? String)
            let response = try #require(output["response"] as? [String: Any])
            let body = try #require(response["body"] as? [String: Any])
            if id == "windows" {
                #expect(response["status_code"] as? Int == 200)
                let row = try #require((body["results"] as? [[String: Any]])?.first)
                #expect(row["scored_tokens"] as? Int == 149)
                #expect((row["windows"] as? Int ?? 0) > 1)
                continue
            }
            #expect(response["status_code"] as? Int == 422, "\(id)")
            let error = try #require(body["error"] as? [String: Any])
            #expect(error["code"] as? String == "context_length_exceeded", "\(id)")
            #expect(error["param"] as? String == params[id], "\(id)")
            #expect((error["message"] as? String)?.contains("64") == true, "\(id): \(error)")
        }
    }

    @Test func shardSpecification() throws {
        #expect(try Shard(parsing: "2/4") == Shard(index: 2, count: 4))
        for bad in ["4/4", "-1/4", "1", "a/b", "1/0", "1/2/3"] {
            #expect(throws: BatchError.self) { try Shard(parsing: bad) }
        }
    }
}
