import Foundation

/// The optional `model` field OpenAI and vLLM clients send with every request (`/v1/completions`, and
/// vLLM's `/tokenize` and `/detokenize`): it must name the model this server serves, as OpenAI and
/// vLLM check it, so a client pointed at the wrong server hears so instead of getting another model's ids.
enum ServedModel {
    /// Checks `body["model"]` (absent or null: fine). `served` nil: no model to compare with (a caller
    /// without one, e.g. the fuzz harness), only the type is checked.
    static func check(_ value: Any?, served: String?) throws(APIError) {
        guard let value, !JSONReader.isNull(value) else { return }
        let name = try JSONReader.string(value, at: "model")
        guard let served, name != served else { return }
        throw APIError(status: 404, type: "invalid_request_error", code: "model_not_found",
                       message: "the model `\(name)` does not exist; this server serves `\(served)`", param: "model")
    }
}
