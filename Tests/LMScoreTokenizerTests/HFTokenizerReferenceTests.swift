import Foundation
import LMScoreTestSupport
import LMScoreTokenizer
import Testing

/// Every `tokenizer_expected.json` in ../shared/reference: ids and decoded text from HF `tokenizers`
/// 0.23 (`encode(text, add_special_tokens=False)`, `decode(ids)`) for ~70 texts per tokenizer.
@Suite(.enabled(if: Fixtures.hasSharedReference, "needs ../shared/reference"))
struct HFTokenizerReferenceTests {
    struct Expected: Decodable {
        struct Case: Decodable { let text: String; let ids: [Int32]; let decoded: String }
        let cases: [Case]
    }

    @Test(arguments: ["llama-gqa", "qwen2-bias-bf16", "neox-pythia-f16"])
    func matchesTokenizers(folder: String) throws {
        let directory = Fixtures.sharedReference.appendingPathComponent(folder)
        let file = try #require(HFTokenizer.find(inModelDirectory: directory))
        let tokenizer = try HFTokenizer(file: file, config: HFTokenizer.config(besides: file))
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: directory.appendingPathComponent("tokenizer_expected.json")))
        #expect(expected.cases.count >= 60)
        for (i, testCase) in expected.cases.enumerated() {
            let ids = tokenizer.encode(testCase.text, allowSpecial: true)
            #expect(ids == testCase.ids, "case \(i): \(testCase.text.debugDescription)")
            #expect(try tokenizer.decode(testCase.ids) == testCase.decoded, "case \(i): \(testCase.text.debugDescription)")
        }
    }

    /// Byte offsets point into the text: every token's offset is a character start, in order.
    @Test(arguments: ["llama-gqa", "qwen2-bias-bf16", "neox-pythia-f16"])
    func offsetsAreCharacterStarts(folder: String) throws {
        let file = Fixtures.sharedReference.appendingPathComponent("\(folder)/tokenizer.json")
        let tokenizer = try HFTokenizer(file: file)
        let text = "Héllo  wörld 12345 — 日本語 😀\r\n"
        let (ids, offsets) = tokenizer.encodeWithByteOffsets(text, allowSpecial: true)
        #expect(ids.count == offsets.count)
        #expect(offsets == offsets.sorted())
        let starts = Set(text.unicodeScalars.indices.map { text.utf8.distance(from: text.utf8.startIndex, to: $0) })
        for offset in offsets { #expect(starts.contains(offset)) }
    }
}
