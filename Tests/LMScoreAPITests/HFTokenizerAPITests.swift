import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTestSupport
import LMScoreTokenizer
import Testing

/// The API with a tokenizer.json next to the checkpoint: a `tiny` GPT-2 checkpoint (vocab 1000) with
/// the llama-gqa reference tokenizer (1000 tokens, `<s>` = 1) copied beside it, found by
/// `TokenizerLookup` as the server and CLI find it.
@Suite(.enabled(if: Fixtures.hasSharedReference, "needs ../shared/reference"))
struct HFTokenizerAPITests {
    static let llamaTokenizer = Fixtures.sharedReference.appendingPathComponent("llama-gqa/tokenizer.json")

    /// A model directory with the llama-gqa tokenizer.json and, if given, a tokenizer_config.json.
    static func tokenizer(config: [String: Any]?) throws -> any TextTokenizer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-hftok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: llamaTokenizer, to: directory.appendingPathComponent("tokenizer.json"))
        if let config {
            try JSONSerialization.data(withJSONObject: config).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        }
        return try #require(try TokenizerLookup.load(modelDirectory: directory, vocabSize: tinyConfig.vocabSize, fallback: nil))
    }

    static func score(_ json: String, tokenizer: any TextTokenizer) throws -> (ScoreCall, [String: Any]) {
        let scorer = try TinyModel.scorer()
        let call = try ScoreCall.decode(Data(json.utf8), config: scorer.config, tokenizer: tokenizer)
        let result = scorer.score(batch: [call.request])[0]
        let data = ScoreResponse(model: "tiny", result: result, call: call, tokenizer: tokenizer).jsonData()
        return (call, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
    }

    @Test func textsGetTheBOSTheConfigAsksForAndScoreTheFirstToken() throws {
        let tokenizer = try Self.tokenizer(config: ["add_bos_token": true, "bos_token": "<s>"])
        #expect(tokenizer.formatName == "tokenizer.json")
        let text = "The American dream"
        let ids = tokenizer.encode(text, allowSpecial: true)
        let (call, response) = try Self.score(#"{"texts": ["The American dream"], "return_tokens": true}"#, tokenizer: tokenizer)
        #expect(call.request.rows == .sequences([[1] + ids]))
        let row = try #require((response["results"] as? [[String: Any]])?.first)
        #expect(row["token_ids"] as? [Int] == [1] + ids.map(Int.init))
        let logprobs = try #require(row["logprobs"] as? [Any])
        #expect(logprobs.count == ids.count + 1 && logprobs[0] is NSNull && logprobs[1] is Double)  // first real token scored
        #expect(row["scored_tokens"] as? Int == ids.count)
        #expect((row["tokens"] as? [String])?.first == "<s>")

        let (without, _) = try Self.score(#"{"texts": ["The American dream"], "add_bos": false}"#, tokenizer: tokenizer)
        #expect(without.request.rows == .sequences([ids]))
    }

    @Test func withoutConfigOrPostProcessorNoBOSIsAddedAndAskingForOneWorksOnlyIfThereIsOne() throws {
        let tokenizer = try Self.tokenizer(config: nil)
        let ids = tokenizer.encode("hello", allowSpecial: true)
        let (call, _) = try Self.score(#"{"texts": ["hello"]}"#, tokenizer: tokenizer)
        #expect(call.request.rows == .sequences([ids]))
        // llama-gqa's tokenizer.json alone names no BOS: asking for one is a 422 at add_bos.
        #expect(throws: APIError.self) { try ScoreCall.decode(Data(#"{"texts": ["hello"], "add_bos": true}"#.utf8), config: tinyConfig, tokenizer: tokenizer) }
        do {
            _ = try ScoreCall.decode(Data(#"{"texts": ["hello"], "add_bos": true}"#.utf8), config: tinyConfig, tokenizer: tokenizer)
        } catch {
            #expect(error.param == "add_bos" && error.status == 422)
        }
        do {
            _ = try ScoreCall.decode(Data(#"{"sequences": [[1, 2]], "add_bos": true}"#.utf8), config: tinyConfig, tokenizer: tokenizer)
            Issue.record("add_bos with sequences was accepted")
        } catch {
            #expect(error.param == "add_bos")
        }
    }

    @Test func tokenizeAndDetokenizeUseTheTokenizerJSON() throws {
        let tokenizer = try Self.tokenizer(config: ["add_bos_token": true, "bos_token": "<s>"])
        let call = try TokenizeCall.decode(Data(#"{"text": "Hi there", "token_strings": true, "byte_offsets": true}"#.utf8))
        let body = try #require(try JSONSerialization.jsonObject(with: try call.respond(tokenizer: tokenizer)) as? [String: Any])
        let ids = tokenizer.encode("Hi there", allowSpecial: true)
        #expect(body["tokens"] as? [Int] == [1] + ids.map(Int.init))
        #expect((body["byte_offsets"] as? [Int])?.first == 0)
        let detokenize = try DetokenizeCall.decode(Data("{\"tokens\": \(ids)}".utf8), vocabSize: tinyConfig.vocabSize)
        let text = try #require(try JSONSerialization.jsonObject(with: try detokenize.respond(tokenizer: tokenizer)) as? [String: Any])
        #expect(text["text"] as? String == "Hi there")
    }

    /// lm-eval's remote tokenizer on a tokenizer with a BOS: `/tokenizer_info` names `<s>` and `</s>`, each
    /// of which `/tokenize` with `add_special_tokens: false` reads back as its id alone; `add_special_tokens`
    /// true adds the BOS as HF's tokenizer would (the config's `add_bos_token`), false adds nothing.
    @Test func tokenizerInfoAndVLLMFieldNamesWithABOS() throws {
        let tokenizer = try Self.tokenizer(config: ["add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"])
        let info = try #require(try JSONSerialization.jsonObject(with: TokenizerInfo.jsonData(
            tokenizer: tokenizer, modelName: "tiny", contextLength: 64)) as? [String: Any])
        #expect(info["bos_token"] as? String == "<s>" && info["bos_token_id"] as? Int == 1)
        #expect(info["eos_token"] as? String == "</s>" && info["eos_token_id"] as? Int == 2)
        #expect(info["add_bos_token"] as? Bool == true)
        #expect(info["vocab_size"] as? Int == 1000 && info["model_max_length"] as? Int == 64)
        #expect(info["tokenizer_format"] as? String == "tokenizer.json")

        func tokenize(_ body: String) throws -> [Int]? {
            let call = try TokenizeCall.decode(Data(body.utf8), servedModel: "tiny")
            let object = try JSONSerialization.jsonObject(with: try call.respond(tokenizer: tokenizer, contextLength: 64)) as? [String: Any]
            #expect(object?["max_model_len"] as? Int == 64)
            return object?["tokens"] as? [Int]
        }
        for special in ["<s>", "</s>"] {
            #expect(try tokenize(#"{"prompt": "\#(special)", "add_special_tokens": false}"#) == [info[special == "<s>" ? "bos_token_id" : "eos_token_id"] as! Int])
        }
        let ids = tokenizer.encode("Hi there", allowSpecial: true).map(Int.init)
        #expect(try tokenize(#"{"prompt": "Hi there", "add_special_tokens": false}"#) == ids)
        #expect(try tokenize(#"{"prompt": "Hi there", "add_special_tokens": true}"#) == [1] + ids)
        #expect(try tokenize(#"{"prompt": "Hi there", "model": "tiny"}"#) == [1] + ids)   // vLLM's default: true

        // Without a tokenizer_config.json this tokenizer.json names no BOS and adds none.
        let bare = try Self.tokenizer(config: nil)
        let bareInfo = try #require(try JSONSerialization.jsonObject(with: TokenizerInfo.jsonData(
            tokenizer: bare, modelName: "tiny", contextLength: 64)) as? [String: Any])
        #expect(bareInfo["bos_token"] is NSNull && bareInfo["add_bos_token"] as? Bool == false)
        #expect(bareInfo["eos_token"] as? String == "</s>")   // the special added token found by name
    }

    @Test func completionsTextPromptsGetTheDefaultBOS() throws {
        let tokenizer = try Self.tokenizer(config: ["add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"])
        let call = try CompletionsCall.decode(Data(#"{"prompt": "Hi there", "max_tokens": 0, "echo": true, "logprobs": 1}"#.utf8),
                                              config: tinyConfig, modelName: "tiny", tokenizer: tokenizer)
        #expect(call.prompts == [[1] + tokenizer.encode("Hi there", allowSpecial: true)])
        #expect(tokenizer.endOfText == 2)
    }

    /// The `text` case of every reference with a tokenizer: `texts[0]` through `/score`'s decoder gives
    /// `sequences[0]` (no BOS: none of them adds one).
    @Test(arguments: ["llama-gqa", "qwen2-bias-bf16", "neox-pythia-f16"])
    func referenceTextCaseTokenizesToItsSequence(folder: String) throws {
        struct Case: Decodable { let name: String; let texts: [String]?; let sequences: [[Int32]]? }
        struct Expected: Decodable { let cases: [Case] }
        let directory = Fixtures.sharedReference.appendingPathComponent(folder)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let textCase = try #require(expected.cases.first { $0.name == "text" })
        let tokenizer = try #require(try TokenizerLookup.load(modelDirectory: directory, vocabSize: 1 << 20, fallback: nil))
        let body = try JSONSerialization.data(withJSONObject: ["texts": textCase.texts ?? []])
        var config = tinyConfig  // the references' context is 64 too
        config.vocabSize = tokenizer.vocabularySize
        let call = try ScoreCall.decode(body, config: config, tokenizer: tokenizer)
        #expect(call.request.rows == .sequences(textCase.sequences ?? []))
    }

    @Test func aTokenizerWithMoreTokensThanTheModelIsALoadError() throws {
        let directory = Fixtures.sharedReference.appendingPathComponent("qwen2-bias-bf16")  // 1200 tokens
        #expect(throws: TokenizerError.self) { try TokenizerLookup.load(modelDirectory: directory, vocabSize: 1000, fallback: nil) }
    }
}
