import Foundation
import LMScoreTokenizer
import Testing

/// Ids from tiktoken 0.14.0 (`encode_ordinary` with the r50k pattern and this ranks file), pasted as
/// literals: the pre-tokenizer's corners (contractions, space runs, `\s+(?!\S)`, Unicode classes) and
/// BPE on multibyte characters.
@Suite struct EncodingTests {
    static let known: [(String, [Int32])] = [
        ("Hello world", [15496, 995]),
        ("it's I'm we'll they've you're she'd don't", [270, 338, 314, 1101, 356, 1183, 484, 1053, 345, 821, 673, 1549, 836, 470]),
        // the contraction alternative is lowercase only
        ("IT'S I'M WE'LL", [2043, 6, 50, 314, 6, 44, 12887, 6, 3069]),
        ("I'S it'S 'll'LL", [40, 6, 50, 340, 6, 50, 705, 297, 6, 3069]),
        // a run of spaces gives its last space to the word after it
        ("  hello", [220, 23748]),
        ("hello   ", [31373, 220, 220, 220]),
        ("hello \n", [31373, 220, 198]),
        ("hello\n ", [31373, 198, 220]),
        ("a \n\n b", [64, 220, 628, 275]),
        ("\n\n", [628]),
        ("\thello\t\tworld", [197, 31373, 197, 197, 6894]),
        ("a\t \tb", [64, 197, 220, 197, 65]),
        ("x\r\n\r\ny\u{2028}z\u{85}w \u{0B}\u{0C}v", [87, 201, 198, 201, 198, 88, 447, 101, 89, 126, 227, 86, 220, 199, 200, 85]),
        ("x  \u{A0} y\u{3000}z", [87, 220, 5624, 331, 5099, 222, 89]),
        // U+00AD, U+200B, U+FEFF are not White_Space
        ("\u{AD}\u{200B}\u{FEFF}", [3907, 9525, 171, 119, 123]),
        ("12345", [10163, 2231]),
        (" 12345 1.5", [17031, 2231, 352, 13, 20]),
        ("Ⅻ ½ ① ٣٤٥ x²", [158, 227, 104, 25208, 2343, 239, 254, 18923, 96, 149, 97, 149, 98, 2124, 31185]),
        ("😀 👍🏽 👨‍👩‍👧‍👦", [47249, 222, 50169, 235, 8582, 237, 121, 50169, 101, 447, 235, 41840, 102, 447, 235, 41840, 100, 447, 235, 41840, 99]),
        ("日本語のテキスト", [33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302]),
        // combining marks are neither letters nor numbers: "e" and U+0301 are separate pieces
        ("e\u{301} n\u{303}", [68, 136, 223, 299, 136, 225]),
        ("Привет, мир! 你好 مرحبا", [140, 253, 21169, 18849, 38857, 16843, 20375, 11, 12466, 120, 18849, 21169, 0, 220, 19526, 254, 25001, 121, 47048, 26897, 148, 255, 39848, 12919]),
        // "'s" after a letter is a contraction; after a mark (not \p{L}) the mark's punctuation run
        // takes the apostrophe. tiktoken's Unicode is 16.0: U+10D50 (Garay, 16.0) is a letter, U+1E6C0
        // (Tai Yo, new in 17.0, which the Swift runtime knows) is still unassigned to it.
        ("\u{301}'s", [136, 223, 6, 82]),
        ("\u{10D50}'s", [172, 238, 113, 238, 338]),
        ("\u{1E6C0}'s", [172, 252, 249, 222, 6, 82]),
        ("<|endoftext|>", [27, 91, 437, 1659, 5239, 91, 29]),
        // pieces longer than 128 bytes take the heap merge
        (String(repeating: "Supercalifragilisticexpialidocious", count: 5),
         Array(repeating: [12442, 9948, 361, 22562, 346, 396, 501, 42372, 498, 312, 32346] as [Int32], count: 5).flatMap { $0 }),
        (" " + String(repeating: "=-", count: 70), [796, 12, 46402, 46402, 46402, 46402, 46402, 46402, 46402, 46402, 27584, 10779]),
        ("", []),
    ]

    @Test(arguments: known.indices)
    func knownIDs(_ index: Int) {
        let (text, ids) = Self.known[index]
        #expect(Fixture.tokenizer.encode(text, allowSpecial: false) == ids, "\(text.debugDescription)")
    }

    @Test func endOfTextOnlyWhenAllowed() {
        let tokenizer = Fixture.tokenizer
        #expect(tokenizer.encode("a<|endoftext|> b", allowSpecial: true) == [64, 50256, 275])
        #expect(tokenizer.encode("a<|endoftext|> b", allowSpecial: false) == [64, 27, 91, 437, 1659, 5239, 91, 29, 275])
        #expect(tokenizer.encode("<|endoftext|>", allowSpecial: true) == [GPT2Tokenizer.endOfText])
        #expect(tokenizer.encode("<|endoftext|><|endoftext|>", allowSpecial: true) == [50256, 50256])
        // the text before the special token is split on its own: its trailing space is not given away
        #expect(tokenizer.encode("hi <|endoftext|>", allowSpecial: true) == [5303, 220, 50256])
        // without a special token, both modes agree
        #expect(tokenizer.encode("<|endoftext", allowSpecial: true) == tokenizer.encode("<|endoftext", allowSpecial: false))
    }

    @Test func byteOffsetsPointAtEachTokensFirstByte() {
        let (ids, offsets) = Fixture.tokenizer.encodeWithByteOffsets("né 日本", allowSpecial: false)
        #expect(ids == [77, 2634, 10545, 245, 98, 17312, 105])
        #expect(offsets == [0, 1, 3, 5, 6, 7, 9])
        let special = Fixture.tokenizer.encodeWithByteOffsets("hi<|endoftext|>é", allowSpecial: true)
        #expect(special.ids == [5303, 50256, 2634])
        #expect(special.byteOffsets == [0, 2, 15])
    }

    @Test func manyThreadsAtOnceGetTheSameIDs() async {
        let tokenizer = Fixture.tokenizer
        let texts = Self.known.map(\.0) + (0 ..< 50).map { "text \($0): it's  \($0 * 7919) 😀 日本\n" }
        let serial = texts.map { tokenizer.encode($0, allowSpecial: false) }
        let parallel = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for round in 0 ..< 8 {
                for (i, text) in texts.enumerated() where (i + round) % 2 == 0 {
                    group.addTask { (i, tokenizer.encode(text, allowSpecial: false)) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (i, ids) in parallel { #expect(ids == serial[i]) }
        let _: any Sendable = tokenizer
    }
}
