import Foundation
import LMScoreTestSupport
import Testing

/// `lmscore tokenize --tokenizer tokenizer.json` and `lmscore score` with a tokenizer.json beside the
/// checkpoint: the paths Scripts/check_hf_tokenizers.sh and users take.
@Suite("tokenizer.json from the CLI", .enabled(if: Fixtures.hasSharedReference, "needs ../shared/reference"))
struct TokenizerJSONCommandTests {
    static let llama = Fixtures.sharedReference.appendingPathComponent("llama-gqa/tokenizer.json")

    @Test("tokenize --tokenizer gives tokenizers' ids and --decode its text")
    func tokenizeAndDecode() throws {
        struct Expected: Decodable {
            struct Case: Decodable { let text: String; let ids: [Int]; let decoded: String }
            let cases: [Case]
        }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.llama.deletingLastPathComponent()
            .appendingPathComponent("tokenizer_expected.json")))
        let sample = try #require(expected.cases.first { $0.ids.count > 5 })
        let encoded = try lmscore(["tokenize", "--tokenizer", Self.llama.path, "--allow-special"], stdin: Data(sample.text.utf8))
        #expect(encoded.status == 0, "\(encoded)")
        #expect(try JSONSerialization.jsonObject(with: encoded.stdout) as? [Int] == sample.ids)
        let decoded = try lmscore(["tokenize", "--tokenizer", Self.llama.path, "--decode"],
                                  stdin: Data("\(sample.ids)".utf8))
        #expect(try decoded.json()["text"] as? String == sample.decoded, "\(decoded)")
    }

    @Test("an unsupported tokenizer.json is one line naming the key")
    func unsupportedConstruct() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var body = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.llama)) as? [String: Any])
        body["pre_tokenizer"] = ["type": "Whitespace"]
        let file = directory.file("tokenizer.json")
        try JSONSerialization.data(withJSONObject: body).write(to: file)
        let run = try lmscore(["tokenize", "--tokenizer", file.path], stdin: Data("hi".utf8))
        #expect(run.status != 0)
        #expect(run.errLines == ["Error: cannot load tokenizer: \(file.path): pre_tokenizer.type: \"Whitespace\" unsupported"], "\(run)")
    }

    @Test("score with texts reads the tokenizer.json beside the checkpoint, BOS from tokenizer_config.json")
    func scoreTexts() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let model = directory.file("model")
        let made = try lmscore(["make-checkpoint", "--preset", "tiny", "--random", "--seed", "3", model.path])
        #expect(made.status == 0, "\(made)")
        try FileManager.default.copyItem(at: Self.llama, to: model.appendingPathComponent("tokenizer.json"))
        try Data(#"{"add_bos_token": true, "bos_token": "<s>"}"#.utf8).write(to: model.appendingPathComponent("tokenizer_config.json"))
        let tokenize = try lmscore(["tokenize", "--model", model.path, "--allow-special"], stdin: Data("The cat sat".utf8))
        let ids = try #require(try JSONSerialization.jsonObject(with: tokenize.stdout) as? [Int], "\(tokenize)")
        let run = try lmscore(["score", "--model", model.path], stdin: Data(#"{"texts": ["The cat sat"]}"#.utf8))
        #expect(run.status == 0, "\(run)")
        let row = try #require((try run.json()["results"] as? [[String: Any]])?.first)
        #expect(row["token_ids"] as? [Int] == [1] + ids)
        #expect(row["scored_tokens"] as? Int == ids.count)
    }
}
