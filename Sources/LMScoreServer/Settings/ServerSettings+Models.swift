import Foundation

extension ServerSettings {
    /// One served model: `PATH` (named after its directory or file) or `NAME=PATH`.
    public struct ModelEntry: Sendable, Equatable {
        /// nil: the last component of `path` (`DecoderModel.name`).
        public let name: String?
        public let path: String
    }

    /// The models of the `model` setting, the first being the default of every endpoint: one entry,
    /// or several separated by commas (`lmscore serve --model a=DIR --model b=x.gguf` joins its flags
    /// so); empty when no model is set.
    public var models: [ModelEntry] {
        guard let model else { return [] }
        return (try? Self.parseModels(model, source: "model")) ?? []
    }

    /// `NAME=PATH` when the part before the first `=` is a name (letters, digits, `.`, `_`, `-`), else
    /// all of it is a path. Names must differ.
    static func parseModels(_ value: String, source: String) throws(Invalid) -> [ModelEntry] {
        var entries: [ModelEntry] = []
        for raw in value.split(separator: ",", omittingEmptySubsequences: false) {
            let item = raw.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty else { throw Invalid(description: "\(source): empty model path in \"\(value)\"") }
            let entry: ModelEntry
            if let equals = item.firstIndex(of: "="), isName(item[..<equals]) {
                let path = String(item[item.index(after: equals)...])
                guard !path.isEmpty else { throw Invalid(description: "\(source): \"\(item)\" names no path") }
                entry = ModelEntry(name: String(item[..<equals]), path: path)
            } else {
                entry = ModelEntry(name: nil, path: item)
            }
            if let name = entry.name, entries.contains(where: { $0.name == name }) {
                throw Invalid(description: "\(source): two models are named \"\(name)\"")
            }
            entries.append(entry)
        }
        return entries
    }

    private static func isName(_ text: Substring) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }
}
