/// What the API layer needs from a tokenizer, whichever format it was loaded from: GPT-2's tiktoken
/// ranks (`GPT2Tokenizer`) or a Hugging Face `tokenizer.json` (`HFTokenizer`).
public protocol TextTokenizer: Sendable {
    /// What kind of tokenizer file it came from, as `/v1/model` and logs name it (`gpt2`, `tokenizer.json`).
    var formatName: String { get }
    /// Ids are `0 ..< vocabularySize` (some may be unused).
    var vocabularySize: Int { get }
    /// The ids to put before a text when a BOS is asked for (`<s>`, `<|begin_of_text|>`), or nil if the
    /// tokenizer has none.
    var beginningOfSequence: Int32? { get }
    /// Whether the model's tokenizer adds `beginningOfSequence` unless told otherwise
    /// (`tokenizer_config.json`'s `add_bos_token`, else the post-processor).
    var addsBeginningOfSequence: Bool { get }
    /// The id that ends a document (`<|endoftext|>`, `</s>`), which `/v1/completions` reports as `stop`.
    var endOfText: Int32? { get }

    /// The token ids of `text` (no BOS) and, for each, the UTF-8 byte offset in `text` where it starts.
    /// `allowSpecial: false` reads special tokens' text as ordinary text.
    func encodeWithByteOffsets(_ text: String, allowSpecial: Bool) -> (ids: [Int32], byteOffsets: [Int])
    /// The token ids of `text`, without offsets (a tokenizer may do this faster).
    func encode(_ text: String, allowSpecial: Bool) -> [Int32]
    /// The bytes one token stands for in decoded text, or nil if `id` is not a token. They need not be
    /// UTF-8 on their own (a token may hold part of a character).
    func tokenBytes(_ id: Int32) -> [UInt8]?
    /// The text of the tokens, as the tokenizer's own decoder writes it.
    func decode(_ ids: [Int32]) throws(TokenizerError) -> String
}

extension TextTokenizer {
    /// The token ids of `text`, without offsets.
    public func encode(_ text: String, allowSpecial: Bool) -> [Int32] {
        encodeWithByteOffsets(text, allowSpecial: allowSpecial).ids
    }
}

extension GPT2Tokenizer: TextTokenizer {
    public var formatName: String { "gpt2" }
    /// GPT-2 has no BOS token and adds nothing.
    public var beginningOfSequence: Int32? { nil }
    public var addsBeginningOfSequence: Bool { false }
    public var endOfText: Int32? { GPT2Tokenizer.endOfText }
}
