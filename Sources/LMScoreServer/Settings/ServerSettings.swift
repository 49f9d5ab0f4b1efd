import Foundation
import LMScoreEngine

/// Every setting of `lmscore serve`. Layers, later ones winning: built-in defaults,
/// `Config/lmscore.json` (or `--config FILE`), `LMSCORE_*` environment variables, command-line flags.
public struct ServerSettings: Sendable, Equatable {
    public var host = "0.0.0.0"
    public var port = 8080
    public var model: String?
    /// GPT-2 ranks file (`gpt2.tiktoken`) for text input when the model directory has none and the
    /// model's vocabulary is GPT-2's; `lmscore serve` defaults it to the bundled model's.
    public var tokenizer: String?
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Tokens of context a window spans (nil: the checkpoint's positions, at most 4096); at most
    /// the checkpoint's `max_position_embeddings` / `n_positions`.
    public var contextLength: Int?
    /// Weights quantized as the model loads: "none" or "q8_0" (`Quantization`).
    public var quantize = "none"
    /// With `quantize`: keep the LM head (and a tied token embedding) as stored.
    public var leaveLMHead = false
    /// Whose arithmetic the forward pass follows where they differ: "transformers" or "llama.cpp" (`Numerics`).
    public var numerics = Numerics.transformers.rawValue
    /// Most tokens one forward pass reads (queued requests are packed up to this).
    public var maxBatchTokens = 4096
    /// Most tokens waiting in the queue; beyond it new requests get 429.
    public var maxQueuedTokens = 65_536
    public var maxBodyBytes = 8 * 1_048_576
    /// Most bytes of request bodies held at once (received, or received and not yet decoded); past it
    /// a new body is refused with 429 before it is read. Default: 512 MiB, or 1/16 of the memory
    /// (the container's limit when there is one) on a smaller machine, at least 64 MiB.
    public var maxBodyBytesInFlight = ServerSettings.defaultBodyBytesInFlight
    /// A request that waited longer than this for its batch gets 504.
    public var requestTimeout = 30.0
    public var connectionLimit = 8192
    /// Seconds of inactivity before a connection is closed.
    public var connectionTimeout = 30
    /// Per-connection buffer for headers (bytes).
    public var connectionMemory = 32 * 1024
    public var listenBacklog = 4096
    /// A request body must arrive within this many seconds of its headers (stops byte-a-second clients).
    public var bodyTimeout = 10.0
    /// After SIGTERM, how long in-flight requests may take before the server exits anyway.
    public var drainTimeout = 30.0
    public var logLevel = "info"
    /// Bytes of the prefix cache (keys/values, hidden states and answers of token prefixes, shared by all
    /// requests; 0: off). Default: 1/8 of the memory (the container's limit when lower), at most 8 GiB.
    public var prefixCacheBytes = ServerSettings.defaultPrefixCacheBytes

    public init() {}

    /// The keys, as written in the JSON file; the environment variable is `LMSCORE_` + the key uppercased.
    public static let keys = [
        "host", "port", "model", "tokenizer", "threads", "context_length", "quantize", "leave_lm_head", "numerics", "max_batch_tokens", "max_queued_tokens", "max_body_bytes",
        "max_body_bytes_in_flight", "request_timeout", "connection_limit", "connection_timeout", "connection_memory", "listen_backlog",
        "body_timeout", "drain_timeout", "log_level", "prefix_cache_bytes",
    ]

    /// A setting that cannot be used, described in one line.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Resolves the layers. `configPath` nil means `Config/lmscore.json` when that file exists.
    public static func resolve(
        configPath: String?, environment: [String: String], overrides: [String: String]
    ) throws(Invalid) -> ServerSettings {
        var settings = ServerSettings()
        let path = configPath ?? environment["LMSCORE_CONFIG"] ?? (FileManager.default.fileExists(atPath: "Config/lmscore.json") ? "Config/lmscore.json" : nil)
        if let path {
            for (key, value) in try readFile(path) { try settings.set(key, value, source: "\(path): \"\(key)\"") }
        }
        for key in keys {
            if let value = environment["LMSCORE_" + key.uppercased()] { try settings.set(key, value, source: "LMSCORE_\(key.uppercased())") }
        }
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) { try settings.set(key, value, source: "--\(key.replacingOccurrences(of: "_", with: "-"))") }
        return settings
    }

    private static func readFile(_ path: String) throws(Invalid) -> [(String, String)] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "\(path): cannot read config file") }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw Invalid(description: "\(path): not a JSON object")
        }
        var pairs: [(String, String)] = []
        for (key, value) in json.sorted(by: { $0.key < $1.key }) {
            guard keys.contains(key) else { throw Invalid(description: "\(path): unknown setting \"\(key)\" (known: \(keys.joined(separator: ", ")))") }
            switch value {
            case is NSNull: continue
            case let string as String: pairs.append((key, string))
            // JSON booleans arrive as NSNumber too (objCType "c"); 0 and 1 must stay numbers.
            case let number as NSNumber where String(cString: number.objCType) != "c": pairs.append((key, number.stringValue))
            case let flag as NSNumber: pairs.append((key, flag.boolValue ? "true" : "false"))
            default: throw Invalid(description: "\(path): \"\(key)\" must be a string, a number or a boolean")
            }
        }
        return pairs
    }

    private mutating func set(_ key: String, _ raw: String, source: String) throws(Invalid) {
        let value = raw.trimmingCharacters(in: .whitespaces)
        func integer(_ range: ClosedRange<Int>) throws(Invalid) -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw Invalid(description: "\(source): \"\(raw)\" is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        func seconds() throws(Invalid) -> Double {
            guard let number = Double(value), number > 0, number.isFinite else {
                throw Invalid(description: "\(source): \"\(raw)\" is not a positive number of seconds")
            }
            return number
        }
        switch key {
        case "host":
            var address = in_addr()
            guard inet_pton(AF_INET, value, &address) == 1 else { throw Invalid(description: "\(source): \"\(raw)\" is not an IPv4 address") }
            host = value
        case "port": port = try integer(0...65535)
        case "model":
            guard !value.isEmpty else { throw Invalid(description: "\(source): empty model path") }
            _ = try Self.parseModels(value, source: source)   // one PATH, or NAME=PATH entries separated by commas
            model = value
        case "tokenizer":
            guard !value.isEmpty else { throw Invalid(description: "\(source): empty tokenizer path") }
            tokenizer = value
        case "threads": threads = try integer(1...256)
        case "context_length": contextLength = try integer(1...1 << 24)
        case "quantize":
            guard value == "none" || Quantization(name: value, lmHead: true) != nil else {
                throw Invalid(description: "\(source): \"\(raw)\" is not one of \(Quantization.names.joined(separator: ", "))")
            }
            quantize = value
        case "leave_lm_head":
            switch value {
            case "true", "1": leaveLMHead = true
            case "false", "0": leaveLMHead = false
            default: throw Invalid(description: "\(source): \"\(raw)\" is not true or false")
            }
        case "numerics":
            guard Numerics(rawValue: value) != nil else {
                throw Invalid(description: "\(source): \"\(raw)\" is not one of \(Numerics.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            numerics = value
        case "max_batch_tokens": maxBatchTokens = try integer(1...1 << 20)
        case "max_queued_tokens": maxQueuedTokens = try integer(1...1 << 26)
        case "max_body_bytes": maxBodyBytes = try integer(1024...1 << 30)
        case "max_body_bytes_in_flight": maxBodyBytesInFlight = try integer(1024...1 << 40)
        case "request_timeout": requestTimeout = try seconds()
        case "connection_limit": connectionLimit = try integer(1...1 << 20)
        case "connection_timeout": connectionTimeout = try integer(1...86_400)
        case "connection_memory": connectionMemory = try integer(4096...1 << 24)
        case "listen_backlog": listenBacklog = try integer(1...65_535)
        case "body_timeout": bodyTimeout = try seconds()
        case "drain_timeout": drainTimeout = try seconds()
        case "prefix_cache_bytes": prefixCacheBytes = try integer(0...1 << 44)
        case "log_level":
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(value) else { throw Invalid(description: "\(source): log level must be one of \(levels.joined(separator: ", "))") }
            logLevel = value
        default:
            throw Invalid(description: "\(source): unknown setting \"\(key)\"")
        }
    }

    /// `quantize` and `leave_lm_head` as the loader takes them (nil: as stored).
    public var quantization: Quantization? {
        Quantization(name: quantize, lmHead: !leaveLMHead)
    }

    static let defaultPrefixCacheBytes = PrefixCache.defaultBudget(memoryBytes: machineMemory)

    /// The physical memory, or the container's limit when lower.
    public static var machineMemory: Int { min(Int(clamping: ProcessInfo.processInfo.physicalMemory), containerMemoryLimit() ?? .max) }

    static let defaultBodyBytesInFlight: Int = {
        let memory = min(Int(clamping: ProcessInfo.processInfo.physicalMemory), containerMemoryLimit() ?? .max)
        return min(512 << 20, max(64 << 20, memory / 16))
    }()

    /// The cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`) limit of this process's
    /// container, if one is set.
    public static func containerMemoryLimit() -> Int? {
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0 else { continue }
            // cgroup v1 writes "no limit" as a huge page-rounded number.
            return bytes < 1 << 50 ? bytes : nil
        }
        return nil
    }
}
