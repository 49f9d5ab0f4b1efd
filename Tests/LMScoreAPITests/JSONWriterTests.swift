import Foundation
@testable import LMScoreAPI
import LMScoreTokenizer
import Testing

/// `JSONWriter` writes JSON without Foundation; Foundation's parser is the judge of what it wrote.
@Suite("JSONWriter")
struct JSONWriterTests {
    private func parsed(_ write: (inout JSONWriter) -> Void) throws -> Any {
        var out = JSONWriter()
        write(&out)
        return try JSONSerialization.jsonObject(with: out.data, options: [.fragmentsAllowed])
    }

    @Test("integers, including the extremes", arguments: [0, 7, -7, 10, 99, 100, -100, 50256, Int.max, Int.min, Int(Int32.min)])
    func integers(_ value: Int) throws {
        var out = JSONWriter()
        out.int(value)
        #expect(String(decoding: out.bytes, as: UTF8.self) == String(value))
    }

    @Test("strings: quotes, backslashes, every control character, multi-byte UTF-8 read back equal")
    func strings() throws {
        let controls = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        for text in ["", "plain", #"a "quoted" \ back\slash / slash"#, controls, "é ü 中文 🙂 \u{7F} \u{2028}", "\u{0}x"] {
            #expect(try parsed { $0.string(text) } as? String == text, "\(text.debugDescription)")
        }
        var out = JSONWriter()
        out.string("\u{1}\n")
        #expect(String(decoding: out.bytes, as: UTF8.self) == #""\u0001\n""#)
    }

    @Test("doubles round-trip; NaN and the infinities are strings")
    func doubles() throws {
        for value in [0.0, -0.0, 1.5, -2.25e-7, 1e300, Double.leastNonzeroMagnitude] {
            #expect(try parsed { $0.double(value) } as? Double == value)
        }
        #expect(try parsed { $0.double(.nan) } as? String == "NaN")
        #expect(try parsed { $0.double(.infinity) } as? String == "Infinity")
        #expect(try parsed { $0.double(-.infinity) } as? String == "-Infinity")
    }

    @Test("objects keep their members in the order written; arrays nest")
    func objectsAndArrays() throws {
        var out = JSONWriter()
        var first = true
        out.raw("{")
        out.key("z", first: &first); out.array([[1, 2], [], [3]]) { out, row in out.array(row) { $0.int($1) } }
        out.key("a", first: &first); out.bool(true)
        out.key("m", first: &first); out.raw("null")
        out.raw("}")
        #expect(String(decoding: out.bytes, as: UTF8.self) == #"{"z":[[1,2],[],[3]],"a":true,"m":null}"#)
    }

    @Test("/tokenize's answer, written by JSONWriter, holds what the tokenizer says")
    func tokenizeAnswer() throws {
        let tokenizer = try HostileTokenizer.get()
        let texts = ["Hello \"world\"\n\t\u{1}", "🙂 naïve <|endoftext|>", ""]
        var call = try TokenizeCall.decode(Data(#"{"texts": ["x"], "token_strings": true, "offsets": true, "byte_offsets": true}"#.utf8))
        call.texts = texts
        let answer = try #require(try JSONSerialization.jsonObject(with: call.respond(tokenizer: tokenizer)) as? [String: Any])
        #expect(Set(answer.keys) == ["tokens", "count", "token_strings", "offsets", "byte_offsets"])
        let tokens = try #require(answer["tokens"] as? [[Int]])
        let strings = try #require(answer["token_strings"] as? [[String]])
        for (i, text) in texts.enumerated() {
            let expected = tokenizer.encode(text, allowSpecial: true).map(Int.init)
            #expect(tokens[i] == expected)
            #expect((answer["count"] as? [Int])?[i] == expected.count)
            if text.utf8.allSatisfy({ $0 < 0x80 }) {   // a character split over tokens has no exact token strings
                #expect(strings[i].joined() == text)
            }
        }
    }
}
