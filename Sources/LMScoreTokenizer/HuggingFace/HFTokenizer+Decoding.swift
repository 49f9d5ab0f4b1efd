extension HFTokenizer {
    /// The token as the file spells it (an added token's content, or the vocabulary's key).
    func tokenString(_ id: Int32) -> String? {
        if let added = addedTokens.token(id) { return added.text }
        return model.token(id).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes one token stands for in decoded text: byte-level characters mapped back, `▁` as a
    /// space, `<0xNN>` as its byte. The decoder's joining and trimming steps (`Fuse`, `Strip`) are not
    /// applied, so a SentencePiece text's tokens start with the space its decoded text drops.
    public func tokenBytes(_ id: Int32) -> [UInt8]? {
        guard let token = tokenString(id) else { return nil }
        return decoder?.bytes(of: token) ?? Array(token.utf8)
    }

    /// HF's `decode(ids, skip_special_tokens=False)`: every token's string through the decoder, joined
    /// (with spaces when the file has no decoder, as HF does).
    public func decode(_ ids: [Int32]) throws(TokenizerError) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for (position, id) in ids.enumerated() {
            guard let token = tokenString(id) else { throw .unknownTokenID(id, position: position) }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens).joined()
    }
}
