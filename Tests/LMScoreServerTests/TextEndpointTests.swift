import Foundation
import LMScoreServer
import Testing

/// The bundled model: GPT-2's vocabulary with its tokenizer (`gpt2.tiktoken`) beside it.
let bundledModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Models/lmscore-gpt2-small-en")

private func json(_ object: Any) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

private func doubles(_ value: Any?) -> [Double?] { (value as? [Any] ?? []).map { ($0 as? NSNumber)?.doubleValue } }

extension ServerTests {
    @Suite("Text: /tokenize, /detokenize, /score texts, /v1/completions, /v1/models")
    struct TextEndpoints {
        static let text = "The cat sat on the mat. It's 2026 — naïve café 🎉!"

        @Test("/tokenize and /detokenize round-trip, one text or several, with strings and offsets")
        func tokenizeRoundTrip() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let one = try await server.request("POST", "/tokenize", body: json(["text": Self.text, "token_strings": true, "offsets": true, "byte_offsets": true]))
                #expect(one.status == 200, "\(one)")
                let body = try one.json()
                let ids = try #require(body["tokens"] as? [Int])
                #expect(body["count"] as? Int == ids.count)
                #expect(ids.prefix(4) == [464, 3797, 3332, 319])   // tiktoken r50k_base
                let strings = try #require(body["token_strings"] as? [String])
                let offsets = try #require(body["offsets"] as? [Int])
                #expect(strings.count == ids.count && offsets.count == ids.count)
                #expect(strings.contains { $0.hasPrefix("bytes:") })   // the emoji is split across tokens
                #expect(offsets == offsets.sorted() && offsets.first == 0)
                // Byte offsets: each token's bytes start where the previous token's end (in the UTF-8 text).
                let byteOffsets = try #require(body["byte_offsets"] as? [Int])
                #expect(byteOffsets.count == ids.count && byteOffsets.first == 0)
                #expect(byteOffsets.last! < Self.text.utf8.count && byteOffsets == byteOffsets.sorted())
                #expect(byteOffsets[1] == 3 && byteOffsets[2] == 7)   // "The", " cat", " sat"
                #expect(strings.filter { !$0.hasPrefix("bytes:") }.joined().count < Self.text.count)

                let back = try await server.request("POST", "/detokenize", body: json(["tokens": ids]))
                #expect(back.status == 200, "\(back)")
                #expect(try back.json()["text"] as? String == Self.text)

                let many = try await server.request("POST", "/tokenize", body: json(["texts": ["Hello world", "<|endoftext|>", ""]]))
                #expect(try many.json()["tokens"] as? [[Int]] == [[15496, 995], [50256], []])
                let ordinary = try await server.request("POST", "/tokenize", body: json(["text": "<|endoftext|>", "allow_special": false]))
                #expect((try ordinary.json()["tokens"] as? [Int])?.count ?? 0 > 1)
                let texts = try await server.request("POST", "/detokenize", body: json(["tokens": [[15496, 995], [50256], [12520]]]))
                #expect(try texts.json()["texts"] as? [String] == ["Hello world", "<|endoftext|>", " \u{FFFD}"])
            }
        }

        /// lm-eval's `RemoteTokenizer` (lm_eval/utils.py): `encode` posts `{"prompt", "add_special_tokens": false}`
        /// and reads `tokens`; `decode` posts `{"tokens"}` and reads `prompt`; the eos id is `encode(eos_token)[0]`.
        @Test("/tokenize and /detokenize with vLLM's field names, as lm-eval's remote tokenizer sends them")
        func tokenizeVLLMNames() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let test = try await server.request("POST", "/tokenize", body: json(["prompt": "test", "add_special_tokens": false]))
                #expect(test.status == 200, "\(test)")
                let body = try test.json()
                #expect(body["tokens"] as? [Int] == [9288])
                #expect(body["count"] as? Int == 1)
                #expect(body["max_model_len"] as? Int == 256)
                let eos = try await server.request("POST", "/tokenize", body: json(["prompt": "<|endoftext|>", "add_special_tokens": false]))
                #expect(try eos.json()["tokens"] as? [Int] == [50256])
                // GPT-2's tokenizer adds nothing, so add_special_tokens true changes nothing; the model may be named.
                let special = try await server.request("POST", "/tokenize", body: json([
                    "model": "lmscore-gpt2-small-en", "prompt": "Hello world", "add_special_tokens": true]))
                #expect(try special.json()["tokens"] as? [Int] == [15496, 995])
                let back = try await server.request("POST", "/detokenize", body: json(["model": "lmscore-gpt2-small-en", "tokens": [15496, 995]]))
                #expect(back.status == 200, "\(back)")
                #expect(try back.json()["prompt"] as? String == "Hello world")
                #expect(try back.json()["text"] as? String == "Hello world")
                let several = try await server.request("POST", "/detokenize", body: json(["tokens": [[15496], [995]]]))
                #expect(try several.json().keys.sorted() == ["texts"])

                for (path, body, status, param, code) in [
                    ("/tokenize", json(["text": "a", "prompt": "b"]), 422, "text", "invalid_value"),
                    ("/tokenize", json(["texts": ["a"], "prompt": "b"]), 422, "texts", "invalid_value"),
                    ("/tokenize", json(["prompt": ["a"]]), 422, "prompt", "invalid_type"),
                    ("/tokenize", json(["prompt": "a", "add_bos": false, "add_special_tokens": false]), 422, "add_special_tokens", "invalid_value"),
                    ("/tokenize", json(["prompt": "a", "add_special_tokens": "no"]), 422, "add_special_tokens", "invalid_type"),
                    ("/tokenize", json(["prompt": "a", "model": "gpt2"]), 404, "model", "model_not_found"),
                    ("/tokenize", json(["prompt": "a", "model": 5]), 422, "model", "invalid_type"),
                    ("/detokenize", json(["tokens": [1], "model": "gpt2"]), 404, "model", "model_not_found"),
                ] {
                    let response = try await server.request("POST", path, body: body)
                    #expect(response.status == status, "\(body): \(response)")
                    let error = try errorObject(response)
                    #expect(error["param"] as? String == param, "\(body)")
                    #expect(error["code"] as? String == code, "\(body)")
                }
            }
        }

        /// What lm-eval's `check_remote_tokenizer_support` and `RemoteTokenizer` read, and the round trip it
        /// relies on: `eos_token_id = encode(eos_token)[0]` through `/tokenize` must be the EOS id itself.
        @Test("GET /tokenizer_info: GPT-2's special tokens, and the eos text tokenizes back to 50256")
        func tokenizerInfo() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let response = try await server.request("GET", "/tokenizer_info")
                #expect(response.status == 200, "\(response)")
                #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
                let info = try response.json()
                #expect(Set(info.keys) == ["model", "tokenizer_format", "vocab_size", "model_max_length", "add_bos_token",
                                           "bos_token", "bos_token_id", "eos_token", "eos_token_id", "pad_token", "chat_template"])
                #expect(info["eos_token"] as? String == "<|endoftext|>")
                #expect(info["eos_token_id"] as? Int == 50256)
                #expect(info["bos_token"] is NSNull && info["bos_token_id"] is NSNull)   // GPT-2 has no BOS of its own
                #expect(info["pad_token"] is NSNull && info["chat_template"] is NSNull)
                #expect(info["add_bos_token"] as? Bool == false)
                #expect(info["vocab_size"] as? Int == 50257)
                #expect(info["model_max_length"] as? Int == 256)
                #expect(info["tokenizer_format"] as? String == "gpt2")
                #expect(info["model"] as? String == "lmscore-gpt2-small-en")
                let eos = try #require(info["eos_token"] as? String)
                let encoded = try await server.request("POST", "/tokenize", body: json(["prompt": eos, "add_special_tokens": false]))
                #expect(try encoded.json()["tokens"] as? [Int] == [50256])
                let head = try await server.request("HEAD", "/tokenizer_info")
                #expect(head.status == 200 && head.body.isEmpty)
            }
        }

        @Test("/tokenize and /detokenize errors name the field", arguments: [
            ("/tokenize", #"{}"#, "text", "missing_field"),
            ("/tokenize", #"{"text": "a", "texts": ["b"]}"#, "text", "invalid_value"),
            ("/tokenize", #"{"text": 5}"#, "text", "invalid_type"),
            ("/tokenize", #"{"texts": ["a", 5]}"#, "texts[1]", "invalid_type"),
            ("/tokenize", #"{"texts": []}"#, "texts", "invalid_value"),
            ("/tokenize", #"{"text": "a", "lang": "en"}"#, "lang", "unknown_field"),
            ("/detokenize", #"{"tokens": [1, 50257]}"#, "tokens[1]", "invalid_value"),
            ("/detokenize", #"{"tokens": [[1], [2, -1]]}"#, "tokens[1][1]", "invalid_value"),
            ("/detokenize", #"{"tokens": "hi"}"#, "tokens", "invalid_type"),
            ("/detokenize", #"{}"#, "tokens", "missing_field"),
        ])
        func tokenizeErrors(path: String, body: String, param: String, code: String) async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let response = try await server.request("POST", path, body: body)
                #expect(response.status == 422, "\(response)")
                let error = try #require(try response.json()["error"] as? [String: Any])
                #expect(error["param"] as? String == param)
                #expect(error["code"] as? String == code)
                let bad = try await server.request("POST", path, body: "{\"text\": ")
                #expect(bad.status == 400)
            }
        }

        @Test("/score texts equals /score of the same ids; return_tokens gives the text back")
        func scoreTexts() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let ids = try #require(try (await server.request("POST", "/tokenize", body: json(["text": Self.text]))).json()["tokens"] as? [Int])
                let byText = try await server.request("POST", "/score", body: json(["texts": [Self.text], "return_tokens": true, "top_k": 2]))
                let byIDs = try await server.request("POST", "/score", body: json(["sequences": [ids], "top_k": 2]))
                #expect(byText.status == 200, "\(byText)")
                let row = try #require((try byText.json()["results"] as? [[String: Any]])?.first)
                let reference = try #require((try byIDs.json()["results"] as? [[String: Any]])?.first)
                #expect(doubles(row["logprobs"]).count == ids.count)
                #expect(maxDifference([doubles(row["logprobs"])], [doubles(reference["logprobs"])]) ?? 1 <= 1e-9)
                let tokens = try #require(row["tokens"] as? [String])
                let offsets = try #require(row["text_offset"] as? [Int])
                #expect(tokens.count == ids.count && offsets.count == ids.count)
                #expect(tokens.prefix(4) == ["The", " cat", " sat", " on"])
                #expect(offsets.prefix(4) == [0, 3, 7, 11])
                #expect(reference["tokens"] == nil)
                // Options at their defaults are accepted on every form.
                let defaults = try await server.request("POST", "/score", body: json(["inputs": [[1]], "targets": [[2]], "return_tokens": false, "allow_special": true]))
                #expect(defaults.status == 200, "\(defaults)")

                for (body, param, code) in [
                    (json(["texts": [""]]), "texts[0]", "invalid_value"),
                    (json(["texts": "a"]), "texts", "invalid_type"),
                    (json(["texts": ["a"], "sequences": [[1, 2]]]), "sequences", "invalid_value"),
                    (json(["inputs": [[1]], "targets": [[2]], "return_tokens": true]), "return_tokens", "invalid_value"),
                    (json(["texts": ["a"], "allow_special": "yes"]), "allow_special", "invalid_type"),
                ] {
                    let response = try await server.request("POST", "/score", body: body)
                    #expect(response.status == 422, "\(body): \(response)")
                    let error = try response.json()["error"] as? [String: Any]
                    #expect(error?["param"] as? String == param, "\(body)")
                    #expect(error?["code"] as? String == code, "\(body)")
                }
            }
        }

        @Test("/v1/completions echo: token_logprobs equal /score's, top_logprobs hold k tokens, OpenAI's shape")
        func completionsEcho() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let prompt = "The capital of France is Paris."
                let response = try await server.request("POST", "/v1/completions", body: json([
                    "model": "lmscore-gpt2-small-en", "prompt": prompt, "echo": true, "logprobs": 3, "max_tokens": 0,
                    "temperature": 0, "seed": 1234,
                ]))
                #expect(response.status == 200, "\(response)")
                let body = try response.json()
                #expect(body["object"] as? String == "text_completion")
                #expect((body["id"] as? String)?.hasPrefix("cmpl-") == true)
                #expect(body["model"] as? String == "lmscore-gpt2-small-en")
                #expect(body["created"] is Int)
                let choice = try #require((body["choices"] as? [[String: Any]])?.first)
                #expect(choice["index"] as? Int == 0)
                #expect(choice["text"] as? String == prompt)
                #expect(choice["finish_reason"] as? String == "length")
                let logprobs = try #require(choice["logprobs"] as? [String: Any])
                let tokens = try #require(logprobs["tokens"] as? [String])
                #expect(tokens.joined() == prompt)
                let tokenLogprobs = doubles(logprobs["token_logprobs"])
                #expect(tokenLogprobs.first! == nil)
                let top = try #require(logprobs["top_logprobs"] as? [Any])
                #expect(top.first is NSNull)
                for entry in top.dropFirst() { #expect((entry as? [String: Double])?.count == 3) }
                #expect(logprobs["text_offset"] as? [Int] == tokens.reduce(into: [0]) { $0.append($0.last! + $1.count) }.dropLast())

                let score = try await server.request("POST", "/score", body: json(["texts": [prompt]]))
                let expected = doubles((try score.json()["results"] as? [[String: Any]])?.first?["logprobs"])
                #expect(maxDifference([tokenLogprobs], [expected]) ?? 1 <= 1e-9)
                let usage = try #require(body["usage"] as? [String: Int])
                #expect(usage == ["prompt_tokens": tokens.count, "completion_tokens": 0, "total_tokens": tokens.count])
            }
        }

        @Test("/v1/completions max_tokens 1 appends the greedy token; every prompt form gives one choice per prompt")
        func completionsNextToken() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let ids = [464, 3139, 286, 4881, 318]
                for (prompt, count) in [(ids as Any, 1), ([ids, [464, 3797]] as Any, 2), (["The capital of France is", "Hi"] as Any, 2)] {
                    let response = try await server.request("POST", "/v1/completions", body: json([
                        "prompt": prompt, "echo": true, "logprobs": 1, "max_tokens": 1,
                    ]))
                    #expect(response.status == 200, "\(response)")
                    let choices = try #require(try response.json()["choices"] as? [[String: Any]])
                    #expect(choices.map { $0["index"] as? Int } == (0..<count).map { $0 })
                    for choice in choices {
                        let logprobs = try #require(choice["logprobs"] as? [String: Any])
                        let tokens = try #require(logprobs["tokens"] as? [String])
                        let last = try #require(doubles(logprobs["token_logprobs"]).last ?? nil)
                        let lastTop = try #require((logprobs["top_logprobs"] as? [Any])?.last as? [String: Double])
                        // Greedy: the appended token is the most likely one, with that log-probability.
                        #expect(lastTop == [tokens.last!: last])
                        #expect(choice["finish_reason"] as? String == "length")
                        #expect((choice["text"] as? String)?.hasSuffix(tokens.last!) == true)
                    }
                }
                // echo false: only the generated token.
                let plain = try await server.request("POST", "/v1/completions", body: json(["prompt": ids, "max_tokens": 1, "logprobs": 0]))
                let choice = try #require((try plain.json()["choices"] as? [[String: Any]])?.first)
                let logprobs = try #require(choice["logprobs"] as? [String: Any])
                #expect((logprobs["tokens"] as? [String])?.count == 1)
                #expect(logprobs["text_offset"] as? [Int] == [24])   // after the prompt's 24 characters, as OpenAI counts
                #expect((logprobs["top_logprobs"] as? [[String: Double]])?.first?.isEmpty == true)
                let none = try await server.request("POST", "/v1/completions", body: json(["prompt": ids, "max_tokens": 1]))
                #expect((try none.json()["choices"] as? [[String: Any]])?.first?["logprobs"] is NSNull)

                // top_logprobs lists the most likely token first, in the JSON text itself.
                let ordered = try await server.request("POST", "/v1/completions", body: json(["prompt": ids, "echo": true, "max_tokens": 0, "logprobs": 5, "suffix": ""]))
                #expect(ordered.status == 200, "\(ordered)")
                let text = ordered.text
                let tops = try #require(((try ordered.json()["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["top_logprobs"] as? [Any])
                for case let top as [String: Double] in tops {
                    let best = top.max { $0.value < $1.value }!
                    let bestKey = String(decoding: try JSONSerialization.data(withJSONObject: [best.key], options: .fragmentsAllowed), as: UTF8.self).dropFirst().dropLast()
                    #expect(text.contains("{" + bestKey + ":"), "\(best.key) is not written first")
                }

                // A stop sequence in the appended token cuts the text: finish_reason "stop".
                let plainText = try #require((try plain.json()["choices"] as? [[String: Any]])?.first?["text"] as? String)
                let stopped = try await server.request("POST", "/v1/completions", body: json(["prompt": ids, "max_tokens": 1, "stop": [String(plainText.suffix(1))]]))
                let stoppedChoice = try #require((try stopped.json()["choices"] as? [[String: Any]])?.first)
                #expect(stoppedChoice["finish_reason"] as? String == "stop")
                #expect(stoppedChoice["text"] as? String == String(plainText.dropLast()))
            }
        }

        @Test("/v1/completions refusals: status, param and code", arguments: [
            (#"{"prompt": "hi", "max_tokens": 5}"#, 422, "max_tokens", "unsupported_value"),
            (#"{"prompt": "hi"}"#, 422, "max_tokens", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "stream": true}"#, 422, "stream", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "n": 2}"#, 422, "n", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 0}"#, 422, "echo", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 0, "echo": false}"#, 422, "echo", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "model": "gpt-3.5-turbo-instruct"}"#, 404, "model", "model_not_found"),
            (#"{"max_tokens": 1}"#, 422, "prompt", "missing_field"),
            (#"{"prompt": "", "max_tokens": 1}"#, 422, "prompt", "invalid_value"),
            (#"{"prompt": [], "max_tokens": 1}"#, 422, "prompt", "invalid_value"),
            (#"{"prompt": [[1, 2], [3, 50257]], "max_tokens": 1}"#, 422, "prompt[1][1]", "invalid_value"),
            (#"{"prompt": [[1, 2], "x"], "max_tokens": 1}"#, 422, "prompt[1]", "invalid_type"),
            (#"{"prompt": ["a", 5], "max_tokens": 1}"#, 422, "prompt[1]", "invalid_type"),
            (#"{"prompt": "hi", "max_tokens": 1, "logprobs": 21}"#, 422, "logprobs", "invalid_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "temperature": 3}"#, 422, "temperature", "invalid_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "presence_penalty": 0.5}"#, 422, "presence_penalty", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "logit_bias": {"50256": -100}}"#, 422, "logit_bias", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "frobnicate": 1}"#, 422, "frobnicate", "unknown_field"),
            (#"{"prompt": "hi", "max_tokens": 1, "n": 0}"#, 422, "n", "invalid_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "suffix": "!"}"#, 422, "suffix", "unsupported_value"),
            (#"{"prompt": "hi", "max_tokens": 1, "stop": [1]}"#, 422, "stop[0]", "invalid_type"),
        ])
        func completionsErrors(body: String, status: Int, param: String, code: String) async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let response = try await server.request("POST", "/v1/completions", body: body)
                #expect(response.status == status, "\(response)")
                let error = try #require(try response.json()["error"] as? [String: Any])
                #expect(error["param"] as? String == param)
                #expect(error["code"] as? String == code)
                #expect((error["message"] as? String)?.isEmpty == false)
            }
        }

        @Test("/v1/completions: prompt + max_tokens longer than n_positions is context_length_exceeded, in every prompt form")
        func completionsContextLength() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let full = Array(repeating: 464, count: 256)   // n_positions of the bundled model
                // " the" is one token: 256 of them are 256 tokens, 255 leave room for the appended one.
                let fullText = String(repeating: " the", count: 256), shortText = String(repeating: " the", count: 255)
                for (prompt, maxTokens, status, param) in [
                    (full as Any, 0, 200, nil), (full, 1, 422, "prompt"), (Array(full.dropLast()), 1, 200, nil),
                    (fullText, 0, 200, nil), (fullText, 1, 422, "prompt"), (shortText, 1, 200, nil),
                    ([[464, 3797], full], 0, 200, nil), ([[464, 3797], full], 1, 422, "prompt[1]"),
                    ([full + [464], [464]], 0, 422, "prompt[0]"),
                    (["Hello", fullText], 1, 422, "prompt[1]"), (["Hello", fullText + " the"], 0, 422, "prompt[1]"),
                    (["Hello", shortText], 1, 200, nil),
                ] as [(Any, Int, Int, String?)] {
                    let response = try await server.request("POST", "/v1/completions", body: json([
                        "prompt": prompt, "echo": true, "logprobs": 1, "max_tokens": maxTokens]))
                    let what = "\(String(describing: prompt).prefix(40))… max_tokens \(maxTokens)"
                    #expect(response.status == status, "\(what): \(response)")
                    guard status == 422 else {
                        // Scored in full: every prompt token has its logprob (none cut off).
                        let choices = try #require(try response.json()["choices"] as? [[String: Any]])
                        let usage = try #require(try response.json()["usage"] as? [String: Any])
                        #expect(choices.count == ((prompt as? [Any])?.first is String || (prompt as? [Any])?.first is [Any] ? 2 : 1))
                        #expect(usage["completion_tokens"] as? Int == maxTokens * choices.count)
                        continue
                    }
                    let error = try errorObject(response)
                    #expect(error["code"] as? String == "context_length_exceeded", "\(what)")
                    #expect(error["param"] as? String == param, "\(what)")
                    #expect((error["message"] as? String)?.contains("maximum context length is 256 tokens") == true, "\(what): \(error)")
                }
            }
        }

        @Test("/score: rows no sliding window splits are context_length_exceeded at n_positions; texts and sequences take windows")
        func scoreContextLength() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let over = Array(repeating: 464, count: 257)
                for (body, param) in [
                    (json(["inputs": [[464], over], "targets": [[464], over]]), "inputs[1]"),
                    (json(["choices": [["context": Array(repeating: 464, count: 250), "continuations": [[1], Array(repeating: 2, count: 7)]]]]),
                     "choices[0].continuations[1]"),
                ] {
                    let response = try await server.request("POST", "/score", body: body)
                    #expect(response.status == 422, "\(response)")
                    let error = try errorObject(response)
                    #expect(error["code"] as? String == "context_length_exceeded")
                    #expect(error["param"] as? String == param)
                    #expect((error["message"] as? String)?.contains("n_positions (256)") == true, "\(error)")
                }
                // At the limit: accepted.
                let atLimit = try await server.request("POST", "/score", body: json([
                    "choices": [["context": Array(repeating: 464, count: 250), "continuations": [Array(repeating: 2, count: 6)]]]]))
                #expect(atLimit.status == 200, "\(atLimit)")
                // A text of 600 tokens: every token after the first scored, in windows (documented), none dropped.
                let long = try await server.request("POST", "/score", body: json(["texts": [String(repeating: " the", count: 600)]]))
                #expect(long.status == 200, "\(long)")
                let row = try #require((try long.json()["results"] as? [[String: Any]])?.first)
                #expect(row["scored_tokens"] as? Int == 599)
                #expect((row["windows"] as? Int ?? 0) >= 3)
            }
        }

        /// lm-eval's loglikelihood request (`local-completions`, lm_eval/models/openai_completions.py): a list
        /// of id lists (`tokenized_requests=True`) or of strings (`False`), `echo`, `max_tokens: 1`, `logprobs: 1`;
        /// its `parse_logprobs` sums `token_logprobs[ctxlen:-1]` and sets is_greedy when every
        /// `token_logprobs[i] == max(top_logprobs[i].values())` there. Both must equal /score's numbers.
        @Test("/v1/completions as lm-eval's loglikelihood sends it: parse_logprobs' sum and is_greedy equal /score's")
        func lmEvalLoglikelihood() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let context = [464, 3139, 286, 4881, 318]   // "The capital of France is"; its argmax next is " the" (262)
                let continuations = [[262], [6342], [262, 3139], [6342, 13]]
                let prompts = continuations.map { context + $0 }
                func lmEval(_ prompt: Any) async throws -> [(sum: Double, greedy: Bool, last: (Double, [String: Double], String))] {
                    let response = try await server.request("POST", "/v1/completions", body: json([
                        "model": "lmscore-gpt2-small-en", "prompt": prompt, "echo": true, "max_tokens": 1, "logprobs": 1,
                        "temperature": 0, "seed": 1234]))
                    #expect(response.status == 200, "\(response)")
                    let choices = try #require(try response.json()["choices"] as? [[String: Any]])
                        .sorted { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
                    return try zip(choices, prompts).map { choice, ids in
                        let logprobs = try #require(choice["logprobs"] as? [String: Any])
                        let tokenLogprobs = doubles(logprobs["token_logprobs"])
                        let top = try #require(logprobs["top_logprobs"] as? [Any])
                        let tokens = try #require(logprobs["tokens"] as? [String])
                        // prompt length + 1: the appended greedy token is the extra last entry lm-eval slices off.
                        #expect(tokenLogprobs.count == ids.count + 1 && top.count == ids.count + 1)
                        #expect(tokenLogprobs.first! == nil && top.first is NSNull)
                        var sum = 0.0, greedy = true
                        for i in context.count ..< ids.count {
                            let best = try #require((top[i] as? [String: Double])?.values.max())
                            let lp = try #require(tokenLogprobs[i])
                            sum += lp
                            if lp != best { greedy = false }   // exact float equality, as lm-eval compares
                        }
                        let lastTop = try #require(top.last as? [String: Double])
                        return (sum, greedy, (try #require(tokenLogprobs.last!), lastTop, tokens.last!))
                    }
                }
                let byIDs = try await lmEval(prompts)
                // tokenized_requests=False: lm-eval sends the decoded text of the same ids.
                let decoded = try await server.request("POST", "/detokenize", body: json(["tokens": prompts]))
                let texts = try #require(try decoded.json()["texts"] as? [String])
                let byText = try await lmEval(texts)

                let scored = try await server.request("POST", "/score", body: json(["sequences": prompts]))
                let rows = try #require(try scored.json()["results"] as? [[String: Any]])
                for (r, row) in rows.enumerated() {
                    let logprobs = doubles(row["logprobs"]).suffix(from: context.count).map { $0! }
                    let greedy = (row["greedy"] as? [Any] ?? []).suffix(from: context.count).allSatisfy { $0 as? Bool == true }
                    for got in [byIDs[r], byText[r]] {
                        #expect(abs(got.sum - logprobs.reduce(0, +)) <= 1e-9 * max(1, abs(got.sum)), "prompt \(r)")
                        #expect(got.greedy == greedy, "prompt \(r)")
                        // The extra last entry is the argmax: its logprob is the one top entry's, under its text.
                        #expect(got.last.1 == [got.last.2: got.last.0], "prompt \(r)")
                    }
                }
                // Both outcomes occur: " the" after the context is the argmax, " Paris" is not.
                #expect(byIDs.map(\.greedy) == [true, false, false, false])
                #expect(byIDs.map(\.greedy) == byText.map(\.greedy))
            }
        }

        @Test("/v1/models lists the served model")
        func models() async throws {
            try await withServer(testSettings(model: bundledModel)) { server in
                let response = try await server.request("GET", "/v1/models")
                #expect(response.status == 200, "\(response)")
                let body = try response.json()
                #expect(body["object"] as? String == "list")
                let model = try #require((body["data"] as? [[String: Any]])?.first)
                #expect(model["id"] as? String == "lmscore-gpt2-small-en")
                #expect(model["object"] as? String == "model")
                let post = try await server.request("POST", "/v1/models", body: "{}")
                #expect(post.status == 405)
                #expect(post.header("Allow") == "GET, HEAD")
                let head = try await server.request("HEAD", "/v1/models")
                #expect(head.status == 200 && head.body.isEmpty)
            }
        }

        @Test("a GPT-2-vocabulary model without gpt2.tiktoken uses the configured ranks file; another vocabulary has no tokenizer")
        func tokenizerLookup() async throws {
            var settings = testSettings(model: TestModels.slow)   // vocab 50257, no ranks file of its own
            settings.tokenizer = bundledModel.appendingPathComponent("gpt2.tiktoken").path
            try await withServer(settings) { server in
                let response = try await server.request("POST", "/tokenize", body: json(["text": "Hello world"]))
                #expect(try response.json()["tokens"] as? [Int] == [15496, 995])
            }
            var tiny = testSettings()   // vocab 1000
            tiny.tokenizer = settings.tokenizer
            try await withServer(tiny) { server in
                for (path, body) in [("/tokenize", #"{"text": "hi"}"#), ("/score", #"{"texts": ["hi"]}"#),
                                     ("/v1/completions", #"{"prompt": [1, 2], "max_tokens": 1}"#)] {
                    let response = try await server.request("POST", path, body: body)
                    #expect(response.status == 422, "\(path): \(response)")
                    #expect((try response.json()["error"] as? [String: Any])?["code"] as? String == "tokenizer_unavailable")
                }
                let ids = try await server.request("POST", "/score", body: #"{"sequences": [[1, 2, 3]]}"#)
                #expect(ids.status == 200)
                // No tokenizer to describe: lm-eval's remote-tokenizer check needs a 200, so it falls back.
                let info = try await server.request("GET", "/tokenizer_info")
                #expect(info.status == 404, "\(info)")
                #expect(try errorObject(info)["code"] as? String == "tokenizer_unavailable")
            }
        }
    }
}
