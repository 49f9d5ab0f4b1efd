import Foundation

/// One JSON object of a `tokenizer.json` and where it sits (`pre_tokenizer.pretokenizers[1]`), so that
/// every load error names the key: `tokenizer.json: pre_tokenizer.type: "Whitespace" unsupported`.
struct TokenizerJSON {
    let node: JSONValue
    /// The object's path from the top of the file; "" for the file itself.
    let path: String
    let file: URL

    /// The file's top-level object.
    static func read(_ file: URL) throws(TokenizerError) -> TokenizerJSON {
        guard FileManager.default.fileExists(atPath: file.path) else { throw .missingFile(file) }
        let data: Data
        do { data = try Data(contentsOf: file) } catch { throw .unreadableFile(file, reason: "\(error)") }
        let value: JSONValue
        do { value = try JSONValue.parse(Array(data)) } catch { throw .invalidTokenizer(file, reason: "\(error)") }
        guard case .object = value else { throw .invalidTokenizer(file, reason: "not a JSON object") }
        return TokenizerJSON(node: value, path: "", file: file)
    }

    /// `path.key`, the way errors name a key.
    func keyPath(_ key: String) -> String { path.isEmpty ? key : key.isEmpty ? path : "\(path).\(key)" }

    /// The value of `key`, nil when absent or JSON null.
    func value(_ key: String) -> JSONValue? {
        guard let value = node[key], !value.isNull else { return nil }
        return value
    }

    func invalid(_ key: String, _ reason: String) -> TokenizerError {
        .invalidTokenizer(file, reason: "\(keyPath(key)): \(reason)")
    }

    func unsupported(_ key: String, _ value: String) -> TokenizerError {
        .unsupported(file, key: keyPath(key), value: value)
    }

    func string(_ key: String) throws(TokenizerError) -> String {
        guard let value = value(key) else { throw invalid(key, "missing") }
        guard let string = value.stringValue else { throw invalid(key, "expected a string") }
        return string
    }

    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.stringValue else { throw invalid(key, "expected a string") }
        return string
    }

    func bool(_ key: String, default fallback: Bool) throws(TokenizerError) -> Bool {
        guard let value = value(key) else { return fallback }
        guard let flag = value.boolValue else { throw invalid(key, "expected true or false") }
        return flag
    }

    func int(_ key: String) throws(TokenizerError) -> Int {
        guard let value = value(key) else { throw invalid(key, "missing") }
        guard let int = value.intValue else { throw invalid(key, "expected an integer") }
        return int
    }

    /// The object under `key`, nil when absent or null.
    func object(_ key: String) throws(TokenizerError) -> TokenizerJSON? {
        guard let value = value(key) else { return nil }
        guard case .object = value else { throw invalid(key, "expected an object") }
        return TokenizerJSON(node: value, path: keyPath(key), file: file)
    }

    /// The array of objects under `key` (`normalizers`, `pretokenizers`, `decoders`).
    func objects(_ key: String) throws(TokenizerError) -> [TokenizerJSON] {
        guard let items = value(key)?.arrayValue else { throw invalid(key, "expected an array") }
        var objects: [TokenizerJSON] = []
        for (i, item) in items.enumerated() {
            guard case .object = item else { throw invalid("\(key)[\(i)]", "expected an object") }
            objects.append(TokenizerJSON(node: item, path: keyPath("\(key)[\(i)]"), file: file))
        }
        return objects
    }

    /// The component's `type` (`"BPE"`, `"Sequence"`, `"ByteLevel"`…).
    var type: String {
        get throws(TokenizerError) { try string("type") }
    }

    /// A `pattern` as tokenizer.json writes it: `{"String": "…"}` or `{"Regex": "…"}`.
    func pattern(_ key: String) throws(TokenizerError) -> (literal: String?, regex: String?) {
        let expected = "expected {\"String\": …} or {\"Regex\": …}"
        guard let value = value(key) else { throw invalid(key, expected) }
        if let literal = value["String"]?.stringValue { return (literal, nil) }
        if let regex = value["Regex"]?.stringValue { return (nil, regex) }
        throw invalid(key, expected)
    }
}
