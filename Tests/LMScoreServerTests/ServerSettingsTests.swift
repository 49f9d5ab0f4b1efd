import Foundation
import LMScoreEngine
import LMScoreServer
import Testing

@Suite("ServerSettings.resolve")
struct ServerSettingsTests {
    /// A settings file in a fresh directory.
    final class ConfigFile {
        let directory: URL
        let path: String
        init(_ json: String) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-settings-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            path = directory.appendingPathComponent("lmscore.json").path
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        }
        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    /// Resolves, expecting `ServerSettings.Invalid`; returns its description.
    func invalid(configPath: String? = nil, environment: [String: String] = [:], overrides: [String: String] = [:],
                 sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            let settings = try ServerSettings.resolve(configPath: configPath, environment: environment, overrides: overrides)
            Issue.record("expected ServerSettings.Invalid, resolved \(settings)", sourceLocation: sourceLocation)
            return nil
        } catch {
            let description = error.description
            #expect(!description.contains("\n"), "not one line: \(description)", sourceLocation: sourceLocation)
            return description
        }
    }

    @Test("Defaults")
    func defaults() throws {
        let settings = ServerSettings()
        #expect(settings.host == "0.0.0.0")
        #expect(settings.port == 8080)
        #expect(settings.model == nil)
        #expect(settings.threads == ProcessInfo.processInfo.activeProcessorCount)
        #expect(settings.maxBatchTokens == 4096)
        #expect(settings.maxQueuedTokens == 65_536)
        #expect(settings.maxBodyBytes == 8 * 1_048_576)
        // 512 MiB, or 1/16 of a smaller machine's (or container's) memory, at least 64 MiB.
        let memory = min(Int(ProcessInfo.processInfo.physicalMemory), ServerSettings.containerMemoryLimit() ?? .max)
        #expect(settings.maxBodyBytesInFlight == min(512 << 20, max(64 << 20, memory / 16)))
        #expect(settings.requestTimeout == 30)
        #expect(settings.connectionLimit == 8192)
        #expect(settings.connectionTimeout == 30)
        #expect(settings.connectionMemory == 32 * 1024)
        #expect(settings.listenBacklog == 4096)
        #expect(settings.bodyTimeout == 10)
        #expect(settings.drainTimeout == 30)
        #expect(settings.logLevel == "info")
        #expect(settings.tokenizer == nil)
        #expect(ServerSettings.keys == [
            "host", "port", "model", "tokenizer", "threads", "context_length", "quantize", "leave_lm_head", "numerics",
            "max_batch_tokens", "max_queued_tokens", "max_body_bytes", "max_body_bytes_in_flight", "request_timeout", "connection_limit", "connection_timeout", "connection_memory", "listen_backlog",
            "body_timeout", "drain_timeout", "log_level", "prefix_cache_bytes",
        ])
        // An empty file and no environment change nothing. (An explicit path: the working directory
        // may hold Config/lmscore.json, which resolve reads when no path is given.)
        let empty = try ConfigFile("{}")
        #expect(try ServerSettings.resolve(configPath: empty.path, environment: [:], overrides: [:]) == ServerSettings())
    }

    @Test("The JSON file sets keys (strings, numbers, null for the default); the rest keep their defaults")
    func fileLayer() throws {
        let file = try ConfigFile("""
            {"host": "127.0.0.1", "port": 9000, "model": "/models/gpt2", "tokenizer": "/models/gpt2.tiktoken", "max_batch_tokens": 2048,
             "request_timeout": 2.5, "drain_timeout": "7", "log_level": "debug", "max_queued_tokens": null}
            """)
        let settings = try ServerSettings.resolve(configPath: file.path, environment: [:], overrides: [:])
        var expected = ServerSettings()
        expected.host = "127.0.0.1"
        expected.port = 9000
        expected.model = "/models/gpt2"
        expected.tokenizer = "/models/gpt2.tiktoken"
        expected.maxBatchTokens = 2048
        expected.requestTimeout = 2.5
        expected.drainTimeout = 7
        expected.logLevel = "debug"
        #expect(settings == expected)

        // LMSCORE_CONFIG names the file when no path is given.
        let viaEnvironment = try ServerSettings.resolve(configPath: nil, environment: ["LMSCORE_CONFIG": file.path], overrides: [:])
        #expect(viaEnvironment == expected)
    }

    @Test("LMSCORE_* environment variables override the file; flags override both")
    func layering() throws {
        let file = try ConfigFile(#"{"port": 9000, "max_queued_tokens": 500, "body_timeout": 3, "host": "127.0.0.1"}"#)
        let environment = ["LMSCORE_PORT": "9100", "LMSCORE_MAX_QUEUED_TOKENS": " 1000 ", "LMSCORE_MODEL": "/env/model",
                           "LMSCORE_BOGUS": "ignored", "PORT": "1"]
        let fromEnvironment = try ServerSettings.resolve(configPath: file.path, environment: environment, overrides: [:])
        #expect(fromEnvironment.port == 9100)
        #expect(fromEnvironment.maxQueuedTokens == 1000)
        #expect(fromEnvironment.model == "/env/model")
        #expect(fromEnvironment.bodyTimeout == 3)          // file only
        #expect(fromEnvironment.host == "127.0.0.1")       // file only

        let fromFlags = try ServerSettings.resolve(configPath: file.path, environment: environment,
                                                   overrides: ["port": "0", "model": "/flag/model", "max_body_bytes": "2048"])
        #expect(fromFlags.port == 0)
        #expect(fromFlags.model == "/flag/model")
        #expect(fromFlags.maxBodyBytes == 2048)
        #expect(fromFlags.maxQueuedTokens == 1000)         // environment, no flag
        #expect(fromFlags.bodyTimeout == 3)                // file, nothing later
    }

    @Test("A bad value is one line naming its source: file key, environment variable or flag")
    func badValues() throws {
        let file = try ConfigFile(#"{"port": 70000}"#)
        let fromFile = invalid(configPath: file.path)
        #expect(fromFile?.contains(file.path) == true && fromFile?.contains("\"port\"") == true && fromFile?.contains("70000") == true,
                "\(fromFile ?? "")")

        let empty = try ConfigFile("{}")
        let fromEnvironment = invalid(environment: ["LMSCORE_REQUEST_TIMEOUT": "-1", "LMSCORE_CONFIG": empty.path])
        #expect(fromEnvironment?.contains("LMSCORE_REQUEST_TIMEOUT") == true && fromEnvironment?.contains("-1") == true, "\(fromEnvironment ?? "")")

        let fromFlag = invalid(configPath: empty.path, overrides: ["max_batch_tokens": "lots"])
        #expect(fromFlag?.contains("--max-batch-tokens") == true && fromFlag?.contains("lots") == true, "\(fromFlag ?? "")")

        let cases: [(key: String, value: String)] = [
            ("host", "localhost"), ("host", "::1"), ("port", "-1"), ("port", "65536"), ("threads", "0"),
            ("max_body_bytes", "100"), ("request_timeout", "0"), ("request_timeout", "inf"), ("drain_timeout", "soon"),
            ("log_level", "loud"), ("model", ""), ("tokenizer", ""), ("connection_memory", "1024"), ("body_timeout", "nan"),
        ]
        for (key, value) in cases {
            let description = invalid(configPath: empty.path, environment: ["LMSCORE_" + key.uppercased(): value])
            #expect(description?.hasPrefix("LMSCORE_\(key.uppercased()):") == true, "\(key)=\(value): \(description ?? "")")
        }
        // A later valid layer does not hide an invalid earlier one: the file is read first.
        let badFile = try ConfigFile(#"{"threads": "many"}"#)
        let shadowed = invalid(configPath: badFile.path, overrides: ["threads": "2"])
        #expect(shadowed?.contains("\"threads\"") == true, "\(shadowed ?? "")")
    }

    @Test("quantize and leave_lm_head: a JSON boolean or true/false/1/0; unknown names refused")
    func quantization() throws {
        let file = try ConfigFile(#"{"quantize": "q8_0", "leave_lm_head": true}"#)
        let settings = try ServerSettings.resolve(configPath: file.path, environment: [:], overrides: [:])
        #expect(settings.quantize == "q8_0" && settings.leaveLMHead && settings.quantization == .q8_0(lmHead: false))
        let empty = try ConfigFile("{}")
        let defaults = try ServerSettings.resolve(configPath: empty.path, environment: [:], overrides: [:])
        #expect(defaults.quantize == "none" && !defaults.leaveLMHead && defaults.quantization == nil)
        let fromEnvironment = try ServerSettings.resolve(configPath: empty.path, environment: ["LMSCORE_QUANTIZE": "q8_0"], overrides: [:])
        #expect(fromEnvironment.quantization == .q8_0(lmHead: true))
        #expect(invalid(configPath: empty.path, environment: ["LMSCORE_QUANTIZE": "q4_0"])?.contains("none, q8_0") == true)
        #expect(invalid(configPath: empty.path, overrides: ["leave_lm_head": "yes"])?.contains("--leave-lm-head") == true)
    }

    @Test("numerics: transformers (the default) or llama.cpp; other names refused, naming both")
    func numerics() throws {
        let file = try ConfigFile(#"{"numerics": "llama.cpp"}"#)
        #expect(try ServerSettings.resolve(configPath: file.path, environment: [:], overrides: [:]).numerics == "llama.cpp")
        let empty = try ConfigFile("{}")
        #expect(try ServerSettings.resolve(configPath: empty.path, environment: [:], overrides: [:]).numerics == "transformers")
        let fromEnvironment = try ServerSettings.resolve(configPath: empty.path, environment: ["LMSCORE_NUMERICS": "llama.cpp"], overrides: [:])
        #expect(fromEnvironment.numerics == "llama.cpp")
        let refused = invalid(configPath: empty.path, overrides: ["numerics": "ggml"])
        #expect(refused?.contains("--numerics") == true && refused?.contains("transformers, llama.cpp") == true, "\(refused ?? "")")
    }

    @Test("Unknown keys, non-scalar values, unreadable or non-object files are errors")
    func badFiles() throws {
        let unknown = try ConfigFile(#"{"port": 9000, "max_batch_tokenz": 10}"#)
        let description = invalid(configPath: unknown.path)
        #expect(description?.contains("max_batch_tokenz") == true && description?.contains(unknown.path) == true, "\(description ?? "")")

        let nested = try ConfigFile(#"{"port": [9000]}"#)
        #expect(invalid(configPath: nested.path)?.contains("\"port\"") == true)
        let boolean = try ConfigFile(#"{"threads": true}"#)
        #expect(invalid(configPath: boolean.path)?.contains("\"threads\"") == true)
        let array = try ConfigFile("[1, 2]")
        #expect(invalid(configPath: array.path)?.contains(array.path) == true)
        let notJSON = try ConfigFile("port = 9000")
        #expect(invalid(configPath: notJSON.path)?.contains(notJSON.path) == true)
        #expect(invalid(configPath: "/nonexistent/lmscore.json")?.contains("/nonexistent/lmscore.json") == true)

        let empty = try ConfigFile("{}")
        #expect(invalid(configPath: empty.path, overrides: ["bogus": "1"])?.contains("--bogus") == true)
    }

    @Test("JSON numbers 0 and 1 in the file are numbers, not booleans")
    func zeroAndOneInFile() throws {
        // On Linux an NSNumber holding 0 or 1 also casts to Bool, so `value is Bool` is true for them.
        let file = try ConfigFile(#"{"port": 0, "threads": 1, "request_timeout": 1}"#)
        let settings = try ServerSettings.resolve(configPath: file.path, environment: [:], overrides: [:])
        #expect(settings.port == 0)
        #expect(settings.threads == 1)
        #expect(settings.requestTimeout == 1)
    }
}

@Suite("ServerSettings: context_length")
struct ContextLengthSettingTests {
    @Test("context_length: unset by default; from the environment or --context; not a positive integer is refused")
    func contextLength() throws {
        #expect(ServerSettings().contextLength == nil)
        let empty = try ServerSettingsTests.ConfigFile("{}")
        let fromEnvironment = try ServerSettings.resolve(configPath: empty.path, environment: ["LMSCORE_CONTEXT_LENGTH": "2048"], overrides: [:])
        #expect(fromEnvironment.contextLength == 2048)
        let fromFlag = try ServerSettings.resolve(configPath: empty.path, environment: ["LMSCORE_CONTEXT_LENGTH": "2048"], overrides: ["context_length": "512"])
        #expect(fromFlag.contextLength == 512)
        #expect(throws: ServerSettings.Invalid.self) { try ServerSettings.resolve(configPath: empty.path, environment: [:], overrides: ["context_length": "0"]) }
    }
}
