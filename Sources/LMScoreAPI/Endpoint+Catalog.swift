import Foundation
import LMScoreEngine
import LMScoreTokenizer

extension Endpoint {
    /// The models a server (or `lmscore batch`) serves, the first being the default: a body's `model`
    /// picks one, `/score`'s `reference` a second one to compare with. Which pairs of models may be
    /// compared (same vocabulary, same tokenizer: ids, token bytes and special tokens) is worked out
    /// once, here, not per request.
    public struct Catalog: Sendable {
        public let models: [Context]
        /// For each ordered pair of names (model, reference): the first way their tokenizers differ.
        private let tokenizerDifferences: [Pair: String]

        private struct Pair: Hashable {
            let model: String
            let reference: String
        }

        public init(models: [Context]) {
            precondition(!models.isEmpty, "a catalog serves at least one model")
            self.models = models
            var differences: [Pair: String] = [:]
            for (i, a) in models.enumerated() {
                for b in models[(i + 1)...] {
                    if let difference = Self.firstTokenizerDifference(a.tokenizer, b.tokenizer) {
                        differences[Pair(model: a.modelName, reference: b.modelName)] = difference("model", "reference")
                        differences[Pair(model: b.modelName, reference: a.modelName)] = difference("reference", "model")
                    }
                }
            }
            tokenizerDifferences = differences
        }

        public var names: [String] { models.map(\.modelName) }

        /// The model `body`'s `model` names, or the first. With one model the body is not read here (its
        /// decoder checks the name); with several it is parsed for the name (a body that is not a JSON
        /// object gets the first model, whose decoder then answers the 400/422).
        public func model(for body: Data) throws(APIError) -> Context {
            guard models.count > 1 else { return models[0] }
            guard let object = try? JSONReader.parse(body) as? [String: Any], let value = object["model"], !JSONReader.isNull(value) else {
                return models[0]
            }
            return try named(try JSONReader.string(value, at: "model"), param: "model")
        }

        /// The served model `name`, or a 404 naming the served ones.
        public func named(_ name: String, param: String) throws(APIError) -> Context {
            guard let context = models.first(where: { $0.modelName == name }) else {
                throw APIError(status: 404, type: "invalid_request_error", code: "model_not_found",
                               message: "the model `\(name)` does not exist; this server serves \(names.map { "`\($0)`" }.joined(separator: ", "))",
                               param: param)
            }
            return context
        }

        /// The reference `name` for comparing `request` scored by `model`: it must be another served
        /// model with the same vocabulary size, a context at least the model's, and the same tokenizer
        /// (422 `tokenizer_mismatch` naming the first difference).
        public func reference(_ name: String, for model: Context, request: ScoringRequest) throws(APIError) -> Context {
            let reference = try named(name, param: "reference")
            guard reference.modelName != model.modelName else {
                throw .invalid("reference", "the reference must be another model than `model` (`\(name)`)")
            }
            do { try Scorer.checkComparable(model.config, reference: reference.config) } catch { throw APIError(error) }
            if let difference = tokenizerDifferences[Pair(model: model.modelName, reference: reference.modelName)] {
                throw .invalid("reference", "the tokenizers of `\(model.modelName)` and `\(name)` differ: \(difference)",
                               code: "tokenizer_mismatch")
            }
            do { try request.validate(for: reference.config) } catch { throw APIError(error) }
            return reference
        }

        /// The first difference between two tokenizers as a sentence with the two sides' labels filled
        /// in, or nil when they are the same: presence, size, BOS/EOS and whether a BOS is added, then
        /// each id's bytes in id order.
        static func firstTokenizerDifference(_ a: (any TextTokenizer)?, _ b: (any TextTokenizer)?) -> ((String, String) -> String)? {
            switch (a, b) {
            case (nil, nil): return nil
            case (let a?, nil): return { "the \($0) has a tokenizer (\(a.formatName)), the \($1) none" }
            case (nil, let b?): return { "the \($0) has no tokenizer, the \($1) has one (\(b.formatName))" }
            case (let a?, let b?):
                func id(_ value: Int32?) -> String { value.map(String.init) ?? "none" }
                if a.vocabularySize != b.vocabularySize {
                    return { "the \($0)'s tokenizer has \(a.vocabularySize) tokens, the \($1)'s \(b.vocabularySize)" }
                }
                if a.beginningOfSequence != b.beginningOfSequence {
                    return { "BOS token \(id(a.beginningOfSequence)) (\($0)) vs \(id(b.beginningOfSequence)) (\($1))" }
                }
                if a.endOfText != b.endOfText {
                    return { "EOS token \(id(a.endOfText)) (\($0)) vs \(id(b.endOfText)) (\($1))" }
                }
                if a.addsBeginningOfSequence != b.addsBeginningOfSequence {
                    return { "the \($0) \(a.addsBeginningOfSequence ? "adds" : "does not add") a BOS to texts, the \($1) \(b.addsBeginningOfSequence ? "does" : "does not")" }
                }
                for t in 0..<Int32(a.vocabularySize) {
                    let x = a.tokenBytes(t), y = b.tokenBytes(t)
                    if x != y {
                        func spelled(_ bytes: [UInt8]?) -> String { bytes.map { "\"\(TokenText.string($0))\"" } ?? "no token" }
                        return { "token \(t) is \(spelled(x)) in the \($0), \(spelled(y)) in the \($1)" }
                    }
                }
                return nil
            }
        }
    }
}
