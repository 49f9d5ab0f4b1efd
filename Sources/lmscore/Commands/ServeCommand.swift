import ArgumentParser
import Foundation
import LMScoreEngine
import LMScoreServer
import Logging
import ServiceLifecycle

/// `lmscore serve`: the HTTP service. Settings: Config/lmscore.json (or --config), then LMSCORE_*
/// environment variables, then these flags.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve POST /score, /tokenize, /detokenize, /v1/completions and GET /healthz, /metrics, /v1/model, /v1/models over HTTP.")

    @Option(name: .long, help: ArgumentHelp(
        "Model: a directory, safetensors or GGUF path, or NAME=PATH; repeat to serve several (the first is the default; overrides \"model\" / LMSCORE_MODEL).",
        valueName: "[NAME=]PATH"))
    var model: [String] = []

    @Option(name: .long, help: "Port (overrides \"port\" / LMSCORE_PORT; 0 picks a free one).")
    var port: String?

    @Option(name: .long, help: "IPv4 address to bind (overrides \"host\" / LMSCORE_HOST).")
    var host: String?

    @Option(name: .long, help: "Context in tokens (overrides \"context_length\" / LMSCORE_CONTEXT_LENGTH; default: the checkpoint's, at most 4096).")
    var context: String?

    @Option(name: .long, help: "Quantize the weights as they load: none or q8_0 (overrides \"quantize\" / LMSCORE_QUANTIZE).")
    var quantize: String?

    @Flag(name: .long, help: "With --quantize: keep the LM head as stored (overrides \"leave_lm_head\" / LMSCORE_LEAVE_LM_HEAD).")
    var leaveLmHead = false

    @Option(name: .long, help: "Whose arithmetic to follow where they differ: transformers or llama.cpp (overrides \"numerics\" / LMSCORE_NUMERICS).")
    var numerics: String?

    @Option(name: .long, help: "Prefix cache budget in bytes (overrides \"prefix_cache_bytes\" / LMSCORE_PREFIX_CACHE_BYTES; 0: off; default: 1/8 of the memory, at most 8 GiB).")
    var prefixCacheBytes: String?

    @Option(name: .long, help: "Settings file (default: Config/lmscore.json when present, or LMSCORE_CONFIG).")
    var config: String?

    func run() async throws {
        var overrides: [String: String] = [:]
        if !model.isEmpty { overrides["model"] = model.joined(separator: ",") }
        overrides["port"] = port
        overrides["host"] = host
        overrides["context_length"] = context
        overrides["quantize"] = quantize
        if leaveLmHead { overrides["leave_lm_head"] = "true" }
        overrides["numerics"] = numerics
        overrides["prefix_cache_bytes"] = prefixCacheBytes
        let resolved: ServerSettings
        do {
            resolved = try ServerSettings.resolve(configPath: config, environment: ProcessInfo.processInfo.environment, overrides: overrides)
        } catch {
            throw CommandFailure("bad setting: \(error)")
        }
        // A kernel path this CPU lacks is refused before the port opens.
        do { _ = try KernelPath.active() } catch { throw CommandFailure("\(error)") }
        var settings = resolved
        settings.model = try DefaultModel.resolve(settings.model)
        settings.tokenizer = settings.tokenizer ?? DefaultModel.ranksFile
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "lmscore")
        let service = LMScoreService(settings: settings, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            throw CommandFailure("\(error)")
        }
        // Every request has been answered. A batch abandoned at drain_timeout may still be running
        // on the forward thread; a normal exit would run static destructors under it, so leave
        // without running them.
        fflush(nil)  // all C streams (the log handler writes to stderr)
        _exit(0)
    }
}
