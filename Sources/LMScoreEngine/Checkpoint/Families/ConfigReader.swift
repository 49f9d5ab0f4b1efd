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

    /// The rotary description, from transformers 5's `rope_parameters` or the Hub's legacy keys
    /// (top-level `thetaKey`, `partialKey`, and a `rope_scaling` object). Scaling types lmscore does not
    /// implement are refused by name rather than run as plain RoPE.
    func rotary(headSize: Int, thetaKey: String, partialKey: String, defaultPartial: Double) throws -> ModelConfig.Rotary {
        let objectKey = has("rope_parameters") ? "rope_parameters" : "rope_scaling"
        var parameters: [String: Any] = [:]
        if let object = value(objectKey) {
            guard let dictionary = object as? [String: Any] else { throw bad("\"\(objectKey)\" must be an object") }
            parameters = dictionary
        }
        let theta = try value("rope_theta", in: parameters).map { try positiveDouble($0, "\(objectKey).rope_theta") }
            ?? double(thetaKey, default: 10_000)
        let partial = try value("partial_rotary_factor", in: parameters).map { try positiveDouble($0, "\(objectKey).partial_rotary_factor") }
            ?? double(partialKey, default: defaultPartial)
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
        let scaling: ModelConfig.RopeScaling
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
        return ModelConfig.Rotary(theta: theta, dimensions: dimensions, scaling: scaling)
    }
}

extension ModelConfig.RopeScaling {
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
