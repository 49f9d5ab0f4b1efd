import Foundation
import LMScoreTokenizer

/// `GET /tokenizer_info`: the served tokenizer's special tokens and limits, what vLLM's endpoint of
/// that name gives and lm-eval's remote tokenizer reads (`lm_eval/utils.py`, `RemoteTokenizer`;
/// `check_remote_tokenizer_support` wants a JSON object with `eos_token`, then `POST /tokenize` to
/// answer `{"prompt": "test", "add_special_tokens": false}`). lm-eval turns a token's text into its id
/// with `encode(text)[0]` through `/tokenize`, so a token's text is given only when it encodes back to
/// exactly that one id (otherwise null, and the `_id` field still says which id it is).
///
/// `chat_template` is null: lmscore serves base models and reads no template (lm-eval then refuses
/// `--apply_chat_template` with "No chat template available from server"). `pad_token` is null:
/// lmscore packs rows unpadded and reads no pad token from tokenizer_config.json.
public enum TokenizerInfo {
    /// The answer's body. `contextLength` is the served n_positions (`model_max_length`, as HF names it).
    public static func jsonData(tokenizer: any TextTokenizer, modelName: String, contextLength: Int) -> Data {
        func special(_ name: String, _ id: Int32?) -> [(String, OrderedJSON)] {
            [(name, .optional(id.flatMap { text(of: $0, tokenizer: tokenizer) }.map(OrderedJSON.string))),
             (name + "_id", .optional(id.map { .int(Int($0)) }))]
        }
        let json = OrderedJSON.object([
            ("model", .string(modelName)),
            ("tokenizer_format", .string(tokenizer.formatName)),
            ("vocab_size", .int(tokenizer.vocabularySize)),
            ("model_max_length", .int(contextLength)),
            ("add_bos_token", .bool(tokenizer.addsBeginningOfSequence)),
        ] + special("bos_token", tokenizer.beginningOfSequence) + special("eos_token", tokenizer.endOfText) + [
            ("pad_token", .null),
            ("chat_template", .null),
        ])
        return json.data
    }

    /// The text of special token `id` if `/tokenize` reads that text back as `id` alone (with special
    /// tokens allowed, its default), else nil.
    static func text(of id: Int32, tokenizer: any TextTokenizer) -> String? {
        guard let bytes = tokenizer.tokenBytes(id), let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return tokenizer.encode(text, allowSpecial: true) == [id] ? text : nil
    }

    /// A model without a tokenizer has no tokenizer to describe: 404, with the code text input gets.
    public static let unavailable = APIError(
        status: 404, type: "invalid_request_error", code: "tokenizer_unavailable",
        message: "this model has no tokenizer (no gpt2.tiktoken or tokenizer.json in its directory and its vocabulary is not GPT-2's)")
}
