import Foundation
import LMScoreTokenizer

/// `POST /tokenize`: `{"text": "..."}` or `{"texts": ["...", ...]}` → ids, optionally each token's
/// text (`token_strings: true`) and where it starts in the text: `offsets: true` in code points
/// (Python string indices), `byte_offsets: true` in UTF-8 bytes.
/// `allow_special` (default true) reads a literal `<|endoftext|>` as id 50256, as HF's GPT-2
/// tokenizer does; false encodes it as ordinary text (tiktoken's `encode_ordinary`). `add_bos` puts the
/// tokenizer's BOS first (default: the tokenizer's own choice, e.g. yes for Llama, no for GPT-2 and Qwen).
///
/// vLLM's field names are read too, as lm-eval's remote tokenizer sends them
/// (`{"prompt": "...", "add_special_tokens": false}` → `tokens`): `prompt` is `text`, and
/// `add_special_tokens` is Hugging Face's flag — true adds what the tokenizer adds by default (its BOS if
/// it adds one), false adds nothing — so it is `add_bos` left at its default, or `add_bos: false`.
/// Giving both names of one thing is a 422: which one wins would be a guess.
public struct TokenizeCall: Sendable {
    public var texts: [String]
    /// `text` (one result, unnested) rather than `texts`.
    public var single: Bool
    public var allowSpecial: Bool
    public var tokenStrings: Bool
    public var offsets: Bool
    public var byteOffsets: Bool = false
    /// nil: the tokenizer's default.
    public var addBOS: Bool? = nil

    static let knownFields: Set<String> = [
        "text", "texts", "allow_special", "token_strings", "offsets", "byte_offsets", "add_bos",
        "prompt", "add_special_tokens", "model",   // vLLM's names (lm-eval's remote tokenizer)
    ]

    /// `servedModel`: the name a `model` field must give (404 `model_not_found` otherwise); nil checks
    /// only its type.
    public static func decode(_ data: Data, servedModel: String? = nil) throws(APIError) -> TokenizeCall {
        let body = try JSONReader.object(JSONReader.parse(data), at: "", known: knownFields)
        func present(_ key: String) -> Any? { body[key].flatMap { JSONReader.isNull($0) ? nil : $0 } }
        try ServedModel.check(present("model"), served: servedModel)
        var call = TokenizeCall(texts: [], single: false, allowSpecial: true, tokenStrings: false, offsets: false)
        let given = ["text", "texts", "prompt"].filter { present($0) != nil }
        guard given.count <= 1 else {
            throw .invalid(given[0], "give one of `text`, `texts` or `prompt` (vLLM's name for `text`), not `\(given[0])` and `\(given[1])`")
        }
        switch given.first {
        case "text", "prompt":
            call.texts = [try JSONReader.string(present(given[0])!, at: given[0])]
            call.single = true
        case "texts":
            let items = try JSONReader.array(present("texts")!, at: "texts")
            guard !items.isEmpty else { throw .invalid("texts", "at least one text is required") }
            for (i, item) in items.enumerated() { call.texts.append(try JSONReader.string(item, at: "texts[\(i)]")) }
        default:
            throw .invalid("text", "give `text` (a string), `texts` (an array of strings) or `prompt` (a string)", code: "missing_field")
        }
        if let value = present("allow_special") { call.allowSpecial = try JSONReader.bool(value, at: "allow_special") }
        if let value = present("token_strings") { call.tokenStrings = try JSONReader.bool(value, at: "token_strings") }
        if let value = present("offsets") { call.offsets = try JSONReader.bool(value, at: "offsets") }
        if let value = present("byte_offsets") { call.byteOffsets = try JSONReader.bool(value, at: "byte_offsets") }
        if let value = present("add_bos") { call.addBOS = try JSONReader.bool(value, at: "add_bos") }
        if let value = present("add_special_tokens") {
            guard call.addBOS == nil else {
                throw .invalid("add_special_tokens", "give `add_bos` or `add_special_tokens` (vLLM's name), not both")
            }
            // HF: true = what the tokenizer adds by default (nil), false = nothing.
            call.addBOS = try JSONReader.bool(value, at: "add_special_tokens") ? nil : false
        }
        return call
    }

    /// `{"tokens": ids | [ids], "count", "token_strings"?, "offsets"?, "byte_offsets"?, "max_model_len"?}`,
    /// each nested per text for `texts`. Written with `JSONWriter`: an 8 MB text gives ~2M ids (and as many strings and
    /// offsets), which Foundation's JSONSerialization took seconds to encode.
    /// A BOS (at byte offset 0) comes first when asked for; asking one of a tokenizer without is a 422.
    /// `contextLength`, when given, is written as `max_model_len` (vLLM's field: the served context, so a
    /// client can see whether the ids fit).
    public func respond(tokenizer: any TextTokenizer, contextLength: Int? = nil) throws(APIError) -> Data {
        let bos = try ScoreCall.beginningOfSequence(tokenizer, addBOS: addBOS, param: "add_bos")
        var ids: [[Int32]] = [], strings: [[String]] = [], starts: [[Int]] = [], byteStarts: [[Int]] = []
        for text in texts {
            var (encoded, bytePositions) = tokenizer.encodeWithByteOffsets(text, allowSpecial: allowSpecial)
            if let bos {
                encoded.insert(bos, at: 0)
                bytePositions.insert(0, at: 0)
            }
            ids.append(encoded)
            byteStarts.append(bytePositions)
            if tokenStrings || offsets {
                let bytes = encoded.map { tokenizer.tokenBytes($0)! }
                if tokenStrings { strings.append(bytes.map(TokenText.string)) }
                if offsets { starts.append(TokenText.codePointOffsets(bytes)) }
            }
        }
        var out = JSONWriter(reservingCapacity: ids.reduce(16) { $0 + 8 * $1.count })
        /// One value per text: unnested for `text`, an array for `texts`.
        func field<T>(_ name: String, _ perText: [T], first: inout Bool, _ write: (inout JSONWriter, T) -> Void) {
            out.key(name, first: &first)
            if single { write(&out, perText[0]) } else { out.array(perText, write) }
        }
        var first = true
        out.raw("{")
        field("tokens", ids, first: &first) { out, row in out.array(row) { out, id in out.int(Int(id)) } }
        field("count", ids.map(\.count), first: &first) { out, count in out.int(count) }
        if tokenStrings { field("token_strings", strings, first: &first) { out, row in out.array(row) { out, s in out.string(s) } } }
        if offsets { field("offsets", starts, first: &first) { out, row in out.array(row) { out, n in out.int(n) } } }
        if byteOffsets { field("byte_offsets", byteStarts, first: &first) { out, row in out.array(row) { out, n in out.int(n) } } }
        if let contextLength {
            out.key("max_model_len", first: &first)
            out.int(contextLength)
        }
        out.raw("}")
        return out.data
    }
}

/// `POST /detokenize`: `{"tokens": [ids]}` → `{"text": "...", "prompt": "..."}` (`prompt` is vLLM's name,
/// which lm-eval's remote tokenizer reads), or `{"tokens": [[ids], ...]}` → `{"texts": [...]}`. Bytes
/// that are not UTF-8 (a list ending inside a character) become U+FFFD, as tiktoken's `decode` does.
/// `model`, as vLLM clients send it, must name the served model.
public struct DetokenizeCall: Sendable {
    public var rows: [[Int32]]
    public var single: Bool

    public static func decode(_ data: Data, vocabSize: Int, servedModel: String? = nil) throws(APIError) -> DetokenizeCall {
        let body = try JSONReader.object(JSONReader.parse(data), at: "", known: ["tokens", "model"])
        try ServedModel.check(body["model"], served: servedModel)
        guard let tokens = body["tokens"], !JSONReader.isNull(tokens) else {
            throw .invalid("tokens", "`tokens` is required: an array of token ids, or an array of such arrays", code: "missing_field")
        }
        let items = try JSONReader.array(tokens, at: "tokens")
        if let first = items.first, first is [Any] {
            return DetokenizeCall(rows: try JSONReader.tokenRows(tokens, at: "tokens", vocabSize: vocabSize, allowIgnored: false), single: false)
        }
        return DetokenizeCall(rows: [try JSONReader.tokenRow(tokens, at: "tokens", vocabSize: vocabSize, allowIgnored: false)], single: true)
    }

    public func respond(tokenizer: any TextTokenizer) throws(APIError) -> Data {
        var texts: [String] = []
        for (r, row) in rows.enumerated() {
            let path = single ? "tokens" : "tokens[\(r)]"
            do {
                texts.append(try tokenizer.decode(row))
            } catch .unknownTokenID(let id, let position) {
                throw .invalid("\(path)[\(position)]", "token id \(id) is not in the tokenizer's vocabulary")
            } catch {
                throw .invalid(path, "\(error)")
            }
        }
        let body: [String: Any] = single ? ["text": texts[0], "prompt": texts[0]] : ["texts": texts]
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }
}
