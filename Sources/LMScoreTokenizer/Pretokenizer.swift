/// What the r50k pattern distinguishes about a character: `\p{L}`, `\p{N}`, `\s`, or none of them.
enum CharacterClass: UInt8 {
    case letter, number, whitespace, other

    /// The class of an ASCII byte.
    @inline(__always)
    static func ascii(_ byte: UInt8) -> CharacterClass {
        switch byte {
        case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): return .number
        case 0x09 ... 0x0D, 0x20: return .whitespace  // \t \n \v \f \r and space; not 0x1C...0x1F
        default: return .other
        }
    }

    /// The class of any scalar, with the Unicode data tiktoken's regex engine has. tiktoken 0.14's
    /// regex (Rust `regex-syntax` 0.8) was generated from Unicode 16.0, the Swift 6.3 runtime carries
    /// Unicode 17.0: a character first assigned after 16.0 is unassigned (`Cn`, so "other") to tiktoken,
    /// and must be here too. `\s` is the White_Space property, which no recent version has changed.
    static func of(_ scalar: Unicode.Scalar) -> CharacterClass {
        if scalar.value < 0x80 { return ascii(UInt8(scalar.value)) }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        guard let age = properties.age, age.major < 16 || (age.major == 16 && age.minor == 0) else { return .other }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Classes of U+0000...U+FFFF, one byte each (64 KB), computed once: the Unicode property lookups
    /// cost more than the rest of the pre-tokenizer, and nearly all text is in the BMP.
    static let basicPlane: [CharacterClass] = (0 ..< 0x10000).map { value in
        Unicode.Scalar(UInt32(value)).map(CharacterClass.of) ?? .other  // surrogates: never in a String
    }
}

/// Splits UTF-8 text into the pieces tiktoken's r50k ("gpt2") pattern finds:
///
///     '(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// written out by hand: the alternatives are tried in order at each position, each is greedy, and the
/// only backtracking in the pattern is `\s+(?!\S)` giving back the last whitespace character of a run
/// that a non-whitespace character follows (so `"   hello"` is `"  "`, `" hello"`: the word keeps one
/// space). BPE never merges across pieces, so the pieces decide which tokens are possible at all.
struct Pretokenizer {
    /// The text, valid UTF-8 (it comes from a Swift `String`).
    let text: UnsafeBufferPointer<UInt8>
    /// The basic plane's classes (`CharacterClass.basicPlane`).
    let basicPlane: UnsafePointer<CharacterClass>

    /// The class of the character that starts at byte `i`, and its length in bytes.
    @inline(__always)
    func character(at i: Int) -> (CharacterClass, Int) {
        let lead = text[i]
        if lead < 0x80 { return (CharacterClass.ascii(lead), 1) }
        if lead < 0xE0 {
            let value = Int(lead & 0x1F) << 6 | Int(text[i + 1] & 0x3F)
            return (basicPlane[value], 2)
        }
        if lead < 0xF0 {
            let value = Int(lead & 0x0F) << 12 | Int(text[i + 1] & 0x3F) << 6 | Int(text[i + 2] & 0x3F)
            return (basicPlane[value], 3)
        }
        let value = UInt32(lead & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12
            | UInt32(text[i + 2] & 0x3F) << 6 | UInt32(text[i + 3] & 0x3F)
        return (Unicode.Scalar(value).map(CharacterClass.of) ?? .other, 4)
    }

    /// The end (exclusive byte index) of the piece that starts at byte `start` (< `end`), where `end` is
    /// the end of the text being split (the pattern's `(?!\S)` sees the end there).
    @inline(__always)
    func pieceEnd(from start: Int, to end: Int) -> Int {
        let first = text[start]
        // '(?:[sdmt]|ll|ve|re) — lowercase only; "'S" falls through to the punctuation run.
        if first == UInt8(ascii: "'") && start + 1 < end {
            switch text[start + 1] {
            case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "m"), UInt8(ascii: "t"):
                return start + 2
            case UInt8(ascii: "l"), UInt8(ascii: "v"), UInt8(ascii: "r"):
                if start + 2 < end {
                    let pair = (text[start + 1], text[start + 2])
                    if pair == (UInt8(ascii: "l"), UInt8(ascii: "l")) || pair == (UInt8(ascii: "v"), UInt8(ascii: "e"))
                        || pair == (UInt8(ascii: "r"), UInt8(ascii: "e")) {
                        return start + 3
                    }
                }
            default: break
            }
        }
        var (kind, length) = character(at: start)
        var i = start + length
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": one optional ASCII space, then the run.
        if first == 0x20 && i < end {
            let (next, nextLength) = character(at: i)
            if next != .whitespace {
                kind = next
                i += nextLength
            }
        }
        if kind != .whitespace {
            while i < end {
                let (next, nextLength) = character(at: i)
                if next != kind { break }
                i += nextLength
            }
            return i
        }
        // \s+(?!\S) | \s+ — the whole run if the text ends after it; else all but its last character,
        // which goes with what follows (or, if the run is one character long, that character alone).
        var lastStart = start
        var runLength = 1
        while i < end {
            let (next, nextLength) = character(at: i)
            if next != .whitespace { break }
            lastStart = i
            runLength += 1
            i += nextLength
        }
        if i == end || runLength == 1 { return i }
        return lastStart
    }
}
