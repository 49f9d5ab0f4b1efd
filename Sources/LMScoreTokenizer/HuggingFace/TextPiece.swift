/// A stretch of text on its way through a `tokenizer.json` pipeline: its Unicode scalars (what HF
/// `tokenizers` calls chars) and, per scalar, the UTF-8 byte offset in the original text it came from.
/// Normalizers and pre-tokenizers rewrite and split pieces; `origins` lets every token say where in the
/// caller's text it starts, however much the text was changed on the way (`▁` for spaces, NFC, bytes
/// mapped to printable characters).
struct TextPiece {
    var scalars: [Unicode.Scalar]
    /// `origins[i]`: byte offset in the original text of the character `scalars[i]` came from.
    var origins: [Int]

    init(scalars: [Unicode.Scalar] = [], origins: [Int] = []) {
        self.scalars = scalars
        self.origins = origins
    }

    /// The whole of `text`, each scalar at its own byte offset.
    init(_ text: Substring.UnicodeScalarView, startingAt offset: Int) {
        scalars = []
        origins = []
        scalars.reserveCapacity(text.count)
        origins.reserveCapacity(text.count)
        var at = offset
        for scalar in text {
            scalars.append(scalar)
            origins.append(at)
            at += UTF8.width(scalar)
        }
    }

    var isEmpty: Bool { scalars.isEmpty }
    var count: Int { scalars.count }

    /// `scalars[range]` with its origins.
    subscript(range: Range<Int>) -> TextPiece {
        TextPiece(scalars: Array(scalars[range]), origins: Array(origins[range]))
    }

    mutating func append(_ scalar: Unicode.Scalar, origin: Int) {
        scalars.append(scalar)
        origins.append(origin)
    }

    /// Puts `text` in front, every scalar of it attributed to where the piece starts.
    mutating func prepend(_ text: [Unicode.Scalar]) {
        let origin = origins.first ?? 0
        scalars.insert(contentsOf: text, at: 0)
        origins.insert(contentsOf: repeatElement(origin, count: text.count), at: 0)
    }

    /// Every non-overlapping occurrence of `pattern`, left to right, replaced by `content`, whose scalars
    /// are attributed to the first scalar of the occurrence.
    func replacingOccurrences(of pattern: [Unicode.Scalar], with content: [Unicode.Scalar]) -> TextPiece {
        guard !pattern.isEmpty, scalars.count >= pattern.count else { return self }
        var out = TextPiece()
        out.scalars.reserveCapacity(scalars.count)
        out.origins.reserveCapacity(scalars.count)
        var i = 0
        while i < scalars.count {
            if scalars[i] == pattern[0] && i + pattern.count <= scalars.count
                && scalars[i ..< i + pattern.count].elementsEqual(pattern) {
                for scalar in content { out.append(scalar, origin: origins[i]) }
                i += pattern.count
            } else {
                out.append(scalars[i], origin: origins[i])
                i += 1
            }
        }
        return out
    }

    /// The piece's text as UTF-8.
    var utf8: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count)
        for scalar in scalars { bytes.append(contentsOf: UTF8.encode(scalar)!) }
        return bytes
    }
}
