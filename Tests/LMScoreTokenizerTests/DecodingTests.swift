import Foundation
import LMScoreTokenizer
import Testing

@Suite struct DecodingTests {
    @Test(arguments: EncodingTests.known.indices)
    func roundTrip(_ index: Int) throws {
        let text = EncodingTests.known[index].0
        let tokenizer = Fixture.tokenizer
        #expect(try tokenizer.decode(tokenizer.encode(text, allowSpecial: false)) == text)
        #expect(try tokenizer.decode(tokenizer.encode(text, allowSpecial: true)) == text)
        #expect(try tokenizer.decodeBytes(tokenizer.encode(text, allowSpecial: true)) == Array(text.utf8))
    }

    /// tiktoken `decode` (Python's errors="replace"): each maximal invalid sequence is one U+FFFD.
    @Test func splitCharactersDecodeToReplacementCharacters() throws {
        let tokenizer = Fixture.tokenizer
        #expect(try tokenizer.decode([47249]) == "\u{FFFD}")  // F0 9F 98: 😀 without its last byte
        #expect(try tokenizer.decode([222]) == "\u{FFFD}")  // 80: a lone continuation byte
        #expect(try tokenizer.decode([47249, 222]) == "😀")
        #expect(try tokenizer.decode([64, 47249]) == "a\u{FFFD}")
        #expect(try tokenizer.decode([47249, 64]) == "\u{FFFD}a")
        #expect(try tokenizer.decode([136]) == "\u{FFFD}")  // CC
        #expect(try tokenizer.decode([136, 223]) == "\u{301}")
        #expect(try tokenizer.decode([10545, 245]) == " \u{FFFD}")  // 20 E6 97
        #expect(try tokenizer.decodeBytes([10545, 245]) == [0x20, 0xE6, 0x97])
        #expect(try tokenizer.decode([]) == "")
    }

    @Test func tokenBytes() {
        let tokenizer = Fixture.tokenizer
        #expect(tokenizer.tokenBytes(47249) == [0xF0, 0x9F, 0x98])
        #expect(tokenizer.tokenBytes(15496) == Array("Hello".utf8))
        #expect(tokenizer.tokenBytes(50256) == Array("<|endoftext|>".utf8))
        #expect(tokenizer.tokenBytes(50257) == nil)
        #expect(tokenizer.tokenBytes(-1) == nil)
        #expect(tokenizer.vocabularySize == 50257)
    }

    /// Offsets in code points, as tiktoken's `decode_with_offsets`; a token that starts inside a
    /// character gets that character's offset.
    @Test func decodeWithOffsets() throws {
        let tokenizer = Fixture.tokenizer
        let emoji = try tokenizer.decodeWithOffsets([64, 47249, 222, 65])
        #expect(emoji.text == "a😀b")
        #expect(emoji.offsets == [0, 1, 1, 2])
        let mixed = try tokenizer.decodeWithOffsets([77, 2634, 10545, 245, 98, 17312, 105])
        #expect(mixed.text == "né 日本")
        #expect(mixed.offsets == [0, 1, 2, 3, 3, 4, 4])
        let special = try tokenizer.decodeWithOffsets([5303, 50256, 2634])
        #expect(special.text == "hi<|endoftext|>é")
        #expect(special.offsets == [0, 2, 15])
        // a list that starts inside a character: the offset cannot go below 0 (tiktoken's max(0, …))
        // — but its bytes are not UTF-8, which decode_with_offsets rejects
        #expect(throws: TokenizerError.invalidUTF8(position: 0)) { try tokenizer.decodeWithOffsets([222]) }
        #expect(throws: TokenizerError.invalidUTF8(position: 1)) { try tokenizer.decodeWithOffsets([64, 47249]) }
        #expect(throws: TokenizerError.invalidUTF8(position: 2)) { try tokenizer.decodeWithOffsets([64, 65, 47249, 66]) }
        let empty = try tokenizer.decodeWithOffsets([])
        #expect(empty.text == "" && empty.offsets == [])
    }

    @Test func unknownIDsThrowNamingThePosition() {
        let tokenizer = Fixture.tokenizer
        #expect(throws: TokenizerError.unknownTokenID(50257, position: 0)) { try tokenizer.decode([50257]) }
        #expect(throws: TokenizerError.unknownTokenID(-1, position: 2)) { try tokenizer.decodeBytes([1, 2, -1]) }
        #expect(throws: TokenizerError.unknownTokenID(Int32.max, position: 1)) { try tokenizer.decodeWithOffsets([0, .max]) }
        #expect("\(TokenizerError.unknownTokenID(50257, position: 3))" == "token id 50257 at position 3 is not in the vocabulary")
    }
}
