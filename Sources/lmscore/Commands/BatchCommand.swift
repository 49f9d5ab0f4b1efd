import ArgumentParser
import Foundation
import LMScoreBatch
import LMScoreEngine
import LMScoreServer

/// `lmscore batch -i INPUT.jsonl -o OUTPUT.jsonl`: an OpenAI batch file scored offline, each line
/// answered exactly as `lmscore serve` would answer it; resumable, shardable (`--shard I/N`), and
/// `--merge` to join shard outputs.
struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Score an OpenAI batch file (JSONL of /score, /v1/completions, /tokenize requests; .gz/.zst; '-' for standard input/output).",
        discussion: """
            Each input line: {"custom_id": "...", "method": "POST", "url": "/score", "body": {...}}. Each output line: \
            {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}, in input order. \
            Killed and rerun with the same arguments, a run continues where it stopped (OUTPUT.parts/ holds its \
            checkpoints). With --merge: join the outputs of --shard runs (given as arguments) into OUTPUT.
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: [.customShort("i"), .customLong("input")], help: "Batch input file (.jsonl, .jsonl.gz, .jsonl.zst; '-': standard input).")
    var input: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output file (compressed by its name's .gz/.zst; '-': standard output, not resumable).")
    var output: String

    @Option(name: .long, help: "Take the lines whose 0-based index mod N is I (e.g. 0/4), for N processes splitting one file.")
    var shard: String?

    @Option(name: .long, help: "Tokens packed into one scoring call (the server's max_batch_tokens).")
    var maxBatchTokens = ServerSettings().maxBatchTokens

    @Option(name: .long, help: "Prefix cache budget in bytes (0: off; default: the server's, 1/8 of the memory, at most 8 GiB).")
    var prefixCacheBytes = ServerSettings().prefixCacheBytes

    @Option(name: .long, help: "Commit an output checkpoint at least every N input lines (and every 10 s).")
    var checkpointLines = 1000

    @Flag(name: .long, help: "No progress output.")
    var quiet = false

    @Option(name: .long, help: "Seconds between progress lines when standard error is not a terminal.")
    var progressInterval = 10.0

    @Option(name: .long, help: "Also write the summary as JSON to FILE.")
    var summary: String?

    @Flag(name: .long, help: "Join shard outputs (the arguments) into OUTPUT in input order instead of scoring.")
    var merge = false

    @Argument(help: "With --merge: the shard outputs to join.")
    var shardOutputs: [String] = []

    func validate() throws {
        if merge {
            guard input == nil, shard == nil else { throw ValidationError("--merge takes shard outputs as arguments, not --input or --shard") }
            guard !shardOutputs.isEmpty else { throw ValidationError("--merge needs the shard outputs to join") }
        } else {
            guard input != nil else { throw ValidationError("--input (-i) is required") }
            guard shardOutputs.isEmpty else { throw ValidationError("unexpected arguments \(shardOutputs); did you mean --merge?") }
            guard maxBatchTokens >= 1 else { throw ValidationError("--max-batch-tokens must be at least 1") }
            guard prefixCacheBytes >= 0 else { throw ValidationError("--prefix-cache-bytes must be at least 0") }
            guard checkpointLines >= 1 else { throw ValidationError("--checkpoint-lines must be at least 1") }
        }
    }

    func run() throws {
        do {
            if merge {
                let lines = try BatchMerge.merge(shardOutputs, into: output)
                if !quiet { FileHandle.standardError.write(line: "merged \(lines) lines from \(shardOutputs.count) files into \(output)") }
                return
            }
            var batch = BatchOptions(input: input!, output: output)
            batch.shard = try shard.map { text throws(BatchError) in try Shard(parsing: text) } ?? .whole
            batch.maxBatchTokens = maxBatchTokens
            batch.checkpointLines = checkpointLines
            let model = try options.load()
            let tokenizer = try options.loadTokenizer(for: model)
            let scorer = Scorer(model: model, maxTokensPerForward: maxBatchTokens, prefixCacheBytes: prefixCacheBytes)
            let runner = BatchRunner(options: batch, scorer: scorer, modelName: model.name, tokenizer: tokenizer)
            let result = try runner.run(progressMode: Progress.automaticMode(quiet: quiet, logEvery: progressInterval))
            if !quiet { FileHandle.standardError.write(line: result.text) }
            if let summary {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                do { try encoder.encode(result).write(to: URL(fileURLWithPath: summary)) } catch {
                    throw CommandFailure("cannot write \(summary): \(error.localizedDescription)")
                }
            }
        } catch let error as BatchError {
            throw CommandFailure(error.description)
        }
    }
}
