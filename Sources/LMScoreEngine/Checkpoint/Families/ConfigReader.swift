import Foundation

/// Typed reads of a `config.json` object, each failure a `CheckpointError` naming the key.
struct ConfigReader {
    let json: [String: Any]
    let path: String

    func bad(_ reason: String) -> CheckpointError { .badConfig(path: path, reason: reason) }
    func unsupported(_ reason: String) -> CheckpointError { .unsupportedModel(path: path, reason: reason) }

    /// The value at `key`, with JSON null read as absent.
    func value(_ key: String, in object: [String: Any]? = nil) -> Any? {
        guard let value = (object ?? json)[key], !(value is NSNull) else { return nil }
        return value
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    func string(_ key: String) throws -> String {
        guard let value = value(key) else { throw bad("missing key \"\(key)\"") }
        guard let string = value as? String else { throw bad("\"\(key)\" must be a string") }
        return string
    }

    func int(_ key: String) throws -> Int {
        guard let value = value(key) else { throw bad("missing key \"\(key)\"") }
        return try positiveInt(value, key)
    }

    func int(_ key: String, default fallback: Int) throws -> Int {
        guard let value = value(key) else { return fallback }
        return try positiveInt(value, key)
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        return try positiveInt(value, key)
    }

    func positiveInt(_ value: Any, _ key: String) throws -> Int {
        guard !isBoolean(value), let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int > 0
        else { throw bad("\"\(key)\" must be a positive integer") }
        return int
    }

    func double(_ key: String, in object: [String: Any]? = nil, default fallback: Double) throws -> Double {
        guard let value = value(key, in: object) else { return fallback }
        return try positiveDouble(value, key)
    }

    func positiveDouble(_ value: Any, _ key: String) throws -> Double {
        guard !isBoolean(value), let number = value as? NSNumber, number.doubleValue > 0, number.doubleValue.isFinite
        else { throw bad("\"\(key)\" must be a positive number") }
        return number.doubleValue
    }

    /// JSON true/false. (`value is Bool` will not do: Foundation on Linux bridges the numbers 0 and 1
    /// to Bool as well; JSONSerialization's booleans are the NSNumbers of ObjC type "c".)
    private func isBoolean(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = value(key) else { return fallback }
        guard isBoolean(value), let flag = value as? Bool else { throw bad("\"\(key)\" must be true or false") }
        return flag
    }

    /// Present and JSON null (HF reads it as None, which may differ from the key's default).
    func isNull(_ key: String) -> Bool { json[key] is NSNull }

    /// A positive number, nil when the key is null, `fallback` when absent (HF's `float | None` keys).
    func optionalDouble(_ key: String, default fallback: Double?) throws -> Double? {
        if isNull(key) { return nil }
        guard let value = value(key) else { return fallback }
        return try positiveDouble(value, key)
    }

    func object(_ key: String, in object: [String: Any]? = nil) throws -> [String: Any]? {
        guard let value = value(key, in: object) else { return nil }
        guard let dictionary = value as? [String: Any] else { throw bad("\"\(key)\" must be an object") }
        return dictionary
    }

    /// The shape of a Llama-style attention: `hidden_size`, `num_attention_heads`,
    /// `num_key_value_heads` (default: the heads), `head_dim` (default: hidden / heads).
    func attentionShape(defaultHeadSize: Int? = nil) throws -> (hidden: Int, heads: Int, kvHeads: Int, headSize: Int) {
        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let kvHeads = try int("num_key_value_heads", default: heads)
        guard heads % kvHeads == 0 else {
            throw bad("num_attention_heads \(heads) is not a multiple of num_key_value_heads \(kvHeads)")
        }
        guard has("head_dim") || defaultHeadSize != nil || hidden % heads == 0 else {
            throw bad("hidden_size \(hidden) is not divisible by num_attention_heads \(heads) and head_dim is not given")
        }
        return (hidden, heads, kvHeads, try int("head_dim", default: defaultHeadSize ?? hidden / heads))
    }

    /// The rotary description, from transformers 5's `rope_parameters` or the Hub's legacy keys
    /// (top-level `thetaKey`, `partialKey`, and a `rope_scaling` object). Scaling types lmscore does not
    /// implement are refused by name rather than run as plain RoPE.
    func rotary(headSize: Int, thetaKey: String, partialKey: String, defaultTheta: Double = 10_000,
                defaultPartial: Double) throws -> Rotary {
        let objectKey = has("rope_parameters") ? "rope_parameters" : "rope_scaling"
        return try rotary(parameters: try object(objectKey) ?? [:], objectKey: objectKey, headSize: headSize,
                          theta: try double(thetaKey, default: defaultTheta), partialKey: partialKey,
                          partial: try double(partialKey, default: defaultPartial))
    }

    /// The rotary description of one parameters object (`objectKey` names it in errors); its
    /// `rope_theta` and `partial_rotary_factor` win over `theta` and `partial`.
    func rotary(parameters: [String: Any], objectKey: String, headSize: Int, theta fallbackTheta: Double,
                partialKey: String, partial fallbackPartial: Double) throws -> Rotary {
        let theta = try value("rope_theta", in: parameters).map { try positiveDouble($0, "\(objectKey).rope_theta") } ?? fallbackTheta
        let partial = try value("partial_rotary_factor", in: parameters)
            .map { try positiveDouble($0, "\(objectKey).partial_rotary_factor") } ?? fallbackPartial
        // HF: int(head_dim · factor), and rotate-half needs an even count.
        let dimensions = Int(Double(headSize) * partial)
        guard partial <= 1, dimensions >= 2, dimensions % 2 == 0 else {
            throw bad("\(partialKey) \(partial) gives \(dimensions) rotary dimensions of a \(headSize)-wide head; need an even count ≥ 2")
        }
        let typeKey = parameters["rope_type"] != nil ? "rope_type" : "type"
        let type = (value(typeKey, in: parameters) as? String) ?? "default"
        func number(_ key: String) throws -> Double {
            guard let value = value(key, in: parameters) else { throw bad("\(objectKey).\(key) is required for rope_type \"\(type)\"") }
            return try positiveDouble(value, "\(objectKey).\(key)")
        }
        let scaling: RopeScaling
        switch type {
        case "default":
            scaling = .none
        case "linear":
            scaling = .linear(factor: try number("factor"))
        case "llama3":
            let original = try value("original_max_position_embeddings", in: parameters)
                .map { try positiveInt($0, "\(objectKey).original_max_position_embeddings") } ?? int("max_position_embeddings")
            scaling = .llama3(factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                              highFrequencyFactor: try number("high_freq_factor"), originalContext: original)
        default:
            throw unsupported("\(objectKey).\(typeKey) \"\(type)\"; supported: default, linear, llama3")
        }
        return Rotary(theta: theta, dimensions: dimensions, scaling: scaling)
    }
}

extension RopeScaling {
    /// The `rope_scaling` object a Hub config carries for this scaling (nil: none).
    var jsonObject: [String: Any]? {
        switch self {
        case .none: nil
        case .linear(let factor): ["rope_type": "linear", "factor": factor]
        case .llama3(let factor, let low, let high, let original):
            ["rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
             "original_max_position_embeddings": original]
        }
    }
}
