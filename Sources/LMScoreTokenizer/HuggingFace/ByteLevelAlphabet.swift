/// GPT-2's reversible map between bytes and printable characters (`bytes_to_unicode` in HF
/// `tokenizers` and in GPT-2's encoder.py): the printable Latin-1 bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand
/// for themselves, the other 68 bytes for U+0100 onward in byte order (space is `Ġ`, newline `Ċ`).
/// Byte-level vocabularies are written in these characters.
enum ByteLevelAlphabet {
    /// `character[byte]`.
    static let character: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0 ..< 256 {
            let printable = (0x21 ... 0x7E).contains(byte) || (0xA1 ... 0xAC).contains(byte) || (0xAE ... 0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or nil if it is not one of the 256.
    static func byte(_ scalar: Unicode.Scalar) -> UInt8? {
        byteOf[scalar.value]
    }

    private static let byteOf: [UInt32: UInt8] = {
        var table: [UInt32: UInt8] = [:]
        for (byte, scalar) in character.enumerated() { table[scalar.value] = UInt8(byte) }
        return table
    }()

    /// `piece` with each UTF-8 byte of each character replaced by the character standing for it, every
    /// byte keeping its character's origin (HF's ByteLevel pre-tokenizer, after splitting).
    static func mapped(_ piece: TextPiece) -> TextPiece {
        var out = TextPiece()
        out.scalars.reserveCapacity(piece.count)
        out.origins.reserveCapacity(piece.count)
        for (scalar, origin) in zip(piece.scalars, piece.origins) {
            if scalar.value < 0x80 {
                out.append(character[Int(scalar.value)], origin: origin)
            } else {
                for byte in UTF8.encode(scalar)! { out.append(character[Int(byte)], origin: origin) }
            }
        }
        return out
    }

    /// A token's bytes: its characters mapped back, or, if one of them is not in the alphabet (an
    /// added token such as `<|endoftext|>` written in plain text), its own UTF-8 — as HF's ByteLevel
    /// decoder does.
    static func bytes(of token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let byte = byte(scalar) else { return Array(token.utf8) }
            bytes.append(byte)
        }
        return bytes
    }
}
