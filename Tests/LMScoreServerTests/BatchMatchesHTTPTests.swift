import Foundation
import LMScoreAPI
import LMScoreBatch
import LMScoreEngine
import LMScoreTokenizer
import Testing

extension ServerTests {
    /// `lmscore batch` promises each output body is exactly what the HTTP endpoint answers: the same
    /// bodies go to a live server and through `BatchRunner`, and the answers are compared byte for byte
    /// (`/v1/completions` after setting aside its `id` and `created`, which batch derives from the line).
    @Suite("lmscore batch answers as HTTP does")
    struct BatchMatchesHTTP {
        static let bodies: [(url: String, body: String)] = [
            ("/score", #"{"texts": ["The cat sat on the mat.", "Hello, world!"], "return_tokens": true, "top_k": 2, "probabilities": true}"#),
            ("/score", #"{"sequences": [[464, 3797, 3332, 319, 262, 2603, 13]], "window": {"stride": 3}}"#),
            ("/score", #"{"choices": [{"context": [464, 3797], "continuations": [[3332], [318, 257]]}]}"#),
            ("/score", #"{"sequences": [[1, 2, 99999]]}"#),
            ("/score", #"{"texts": ["x"], "bogus": 1}"#),
            ("/v1/completions", #"{"prompt": ["The capital of France is", "One, two,"], "echo": true, "logprobs": 2, "max_tokens": 1}"#),
            ("/v1/completions", #"{"prompt": "x", "model": "gpt-4"}"#),
            ("/v1/completions", #"{"prompt": "x", "max_tokens": 5}"#),
            ("/tokenize", #"{"texts": ["naïve café 🎉", "two"], "token_strings": true, "offsets": true}"#),
            ("/detokenize", #"{"tokens": [[464, 3797], [50256]]}"#),
            ("/detokenize", #"{"tokens": "no"}"#),
        ]

        @Test("every body, 200 or refused: same status, same bytes")
        func sameStatusAndBytes() async throws {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-batch-http-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            let lines = Self.bodies.enumerated().map { i, request in
                #"{"custom_id": "r\#(i)", "method": "POST", "url": "\#(request.url)", "body": \#(request.body)}"#
            }
            let input = scratch.appendingPathComponent("in.jsonl").path
            let output = scratch.appendingPathComponent("out.jsonl").path
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: input))

            // One line per scorer call, as each HTTP request below is scored alone: same float bits.
            let model = try Checkpoint.load(directory: bundledModel)
            let tokenizer = try GPT2Tokenizer(ranksFile: bundledModel.appendingPathComponent("gpt2.tiktoken"))
            var options = BatchOptions(input: input, output: output)
            options.maxBatchTokens = 1
            _ = try BatchRunner(options: options, scorer: Scorer(model: model), modelName: model.name, tokenizer: tokenizer).run(progressMode: .quiet)
            let outputs = try Data(contentsOf: URL(fileURLWithPath: output)).split(separator: UInt8(ascii: "\n"))
            #expect(outputs.count == Self.bodies.count)

            try await withServer(testSettings(model: bundledModel)) { server in
                for (i, (request, line)) in zip(Self.bodies, outputs).enumerated() {
                    let http = try await server.request("POST", request.url, headers: [("Content-Type", "application/json")], body: request.body)
                    let envelope = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
                    let response = try #require(envelope["response"] as? [String: Any], "line \(i + 1): \(String(decoding: line, as: UTF8.self))")
                    #expect(response["status_code"] as? Int == http.status, "line \(i + 1)")
                    // The body's bytes as written inside the output line (it is the last member of `response`).
                    let text = String(decoding: line, as: UTF8.self)
                    let start = try #require(text.range(of: #""body":"#)).upperBound
                    let end = try #require(text.range(of: #"},"error":null}"#, options: .backwards)).lowerBound
                    var batchBody = String(text[start..<end])
                    var httpBody = http.text
                    if request.url == "/v1/completions" && http.status == 200 {
                        for pattern in [#""id":"cmpl-[0-9a-z]+","#, #""created":[0-9]+,"#] {
                            batchBody = batchBody.replacingOccurrences(of: pattern, with: "", options: .regularExpression)
                            httpBody = httpBody.replacingOccurrences(of: pattern, with: "", options: .regularExpression)
                        }
                    }
                    #expect(batchBody == httpBody, "line \(i + 1) \(request.url): batch and HTTP bodies differ")
                }
            }
        }
    }
}
