/// What a `tokenizer.json`'s `post_processor` adds in front of a single text with
/// `add_special_tokens=True`: the BOS that lmscore's `add_bos` puts before a text. Tokens a template
/// appends after the text (an EOS) are not used: a scored text does not end with one.
enum HFPostProcessor {
    /// The id the post-processor puts before the text, nil if it adds nothing in front.
    static func leadingToken(_ json: TokenizerJSON) throws(TokenizerError) -> Int32? {
        let type = try json.type
        switch type {
        case "Sequence":
            var leading: Int32? = nil
            for step in try json.objects("processors") {
                if let id = try leadingToken(step) {
                    guard leading == nil else { throw step.unsupported("type", "a second processor adding a leading token") }
                    leading = id
                }
            }
            return leading
        case "ByteLevel":
            return nil  // offsets only
        case "TemplateProcessing":
            let single = try json.objects("single")
            var leading: [String] = []
            for item in single {
                if item.value("Sequence") != nil { break }
                guard let special = try item.object("SpecialToken") else { throw item.unsupported("", item.node.summary) }
                leading.append(try special.string("id"))
            }
            guard leading.count <= 1 else { throw json.unsupported("single", "\(leading.count) special tokens before the text") }
            guard let name = leading.first else { return nil }
            guard let specials = try json.object("special_tokens"), let entry = try specials.object(name) else {
                throw json.invalid("special_tokens", "\(name) is not listed")
            }
            guard let ids = entry.value("ids")?.arrayValue, ids.count == 1, let id = ids[0].intValue.flatMap({ Int32(exactly: $0) }) else {
                throw entry.unsupported("ids", "not exactly one id")
            }
            return id
        case "RobertaProcessing", "BertProcessing":
            guard let cls = json.value("cls")?.arrayValue, cls.count == 2, let id = cls[1].intValue.flatMap({ Int32(exactly: $0) }) else {
                throw json.invalid("cls", "expected [token, id]")
            }
            return id
        default:
            throw json.unsupported("type", type)
        }
    }
}
