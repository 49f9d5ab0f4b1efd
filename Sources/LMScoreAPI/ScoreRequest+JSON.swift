import Foundation
import LMScoreEngine

/// A decoded `/score` (or `lmscore score`) request: what to score, plus output options that only
/// shape the JSON (the engine never sees them).
public struct ScoreCall: Sendable, Equatable {
    public var request: ScoringRequest
    /// Add `probs` = exp(logprob) per position.
    public var includeProbabilities: Bool

    public init(request: ScoringRequest, includeProbabilities: Bool = false) {
        self.request = request
        self.includeProbabilities = includeProbabilities
    }
}

extension ScoreCall {
    /// The request schema. Exactly one of `sequences` or `inputs` + `targets`.
    private struct Body: Decodable {
        struct Window: Decodable {
            let stride: Int?
        }
        let sequences: [[Int32]]?
        let inputs: [[Int32]]?
        let targets: [[Int32]]?
        let top_k: Int?
        let probabilities: Bool?
        let window: Window?
    }

    static let knownFields: Set<String> = ["sequences", "inputs", "targets", "top_k", "probabilities", "window"]

    /// Parses and validates a request body. Throws 400 for malformed JSON, 422 (with `param`) for
    /// anything JSON but wrong: unknown fields, wrong types, ids out of range, rows too long…
    public static func decode(_ data: Data, config: ModelConfig) throws(APIError) -> ScoreCall {
        let body: Body = try decodeJSON(Body.self, from: data, knownFields: knownFields)
        let rows: ScoringRequest.Rows
        switch (body.sequences, body.inputs, body.targets) {
        case (let sequences?, nil, nil):
            rows = .sequences(sequences)
        case (nil, let inputs?, let targets?):
            rows = .inputsTargets(inputs: inputs, targets: targets)
        case (nil, _?, nil):
            throw .invalid("targets", "`inputs` needs `targets` (the same rows shifted by one)", code: "missing_field")
        case (nil, nil, _?):
            throw .invalid("inputs", "`targets` needs `inputs`", code: "missing_field")
        case (nil, nil, nil):
            throw .invalid("sequences", "give either `sequences` or `inputs` + `targets`", code: "missing_field")
        default:
            throw .invalid("sequences", "give either `sequences` or `inputs` + `targets`, not both")
        }
        if body.window != nil, case .inputsTargets = rows {
            throw .invalid("window", "`window` applies to `sequences`; inputs/targets rows must fit n_positions")
        }
        let request = ScoringRequest(rows: rows, topK: body.top_k ?? 0, stride: body.window?.stride)
        do { try request.validate(for: config) } catch { throw APIError(error) }
        return ScoreCall(request: request, includeProbabilities: body.probabilities ?? false)
    }
}

/// Decodes `T` and turns Foundation's decoding errors into 400/422 errors naming the JSON path.
func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data, knownFields: Set<String>) throws(APIError) -> T {
    let object: Any
    do {
        object = try JSONSerialization.jsonObject(with: data, options: [])
    } catch {
        throw .malformedJSON(describe(error))
    }
    guard let fields = object as? [String: Any] else {
        throw .invalid(nil, "the request body must be a JSON object", code: "invalid_type")
    }
    if let unknown = fields.keys.sorted().first(where: { !knownFields.contains($0) }) {
        throw .invalid(unknown, "unknown field `\(unknown)`; expected one of \(knownFields.sorted().joined(separator: ", "))",
                       code: "unknown_field")
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as DecodingError {
        throw APIError(decoding: error)
    } catch {
        throw .malformedJSON(describe(error))
    }
}

private func describe(_ error: Error) -> String {
    let nsError = error as NSError
    if let detail = nsError.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
    return nsError.localizedDescription
}

extension APIError {
    init(decoding error: DecodingError) {
        switch error {
        case .typeMismatch(let type, let context):
            self = .invalid(jsonPath(context.codingPath), "expected \(jsonTypeName(type))", code: "invalid_type")
        case .valueNotFound(let type, let context):
            self = .invalid(jsonPath(context.codingPath), "expected \(jsonTypeName(type)), got null", code: "invalid_type")
        case .keyNotFound(let key, let context):
            self = .invalid(jsonPath(context.codingPath + [key]), "missing field", code: "missing_field")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                self = .malformedJSON(context.debugDescription)
            } else {
                self = .invalid(jsonPath(context.codingPath), context.debugDescription, code: "invalid_value")
            }
        @unknown default:
            self = .malformedJSON("\(error)")
        }
    }
}

/// `["sequences", 3, 17]` → `sequences[3][17]`; `["window", "stride"]` → `window.stride`.
func jsonPath(_ path: [CodingKey]) -> String {
    var result = ""
    for key in path {
        if let index = key.intValue {
            result += "[\(index)]"
        } else {
            result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
    }
    return result
}

private func jsonTypeName(_ type: Any.Type) -> String {
    switch type {
    case is Int32.Type: "a token id (integer)"
    case is Int.Type: "an integer"
    case is Bool.Type: "true or false"
    case is String.Type: "a string"
    default:
        String(describing: type).hasPrefix("Array") ? "an array" : "an object"
    }
}
