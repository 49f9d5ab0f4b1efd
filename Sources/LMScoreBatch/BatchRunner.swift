import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer

/// What `lmscore batch` was asked to do.
public struct BatchOptions: Sendable {
    public var input: String
    public var output: String
    public var shard = Shard.whole
    /// The server's `max_batch_tokens`: requests are packed into one scorer call up to this many tokens.
    public var maxBatchTokens = 4096
    /// A checkpoint (a committed output chunk) at least every this many input lines.
    public var checkpointLines = 1000

    public init(input: String, output: String) {
        self.input = input
        self.output = output
    }
}

/// Streams an OpenAI batch file through the endpoints: each line is decoded by its endpoint's own
/// decoder, the requests are packed into `Scorer.score(batch:)` calls with the server's `BatchBudget`
/// rule (as if every line had arrived at once at `lmscore serve`), and each answer is written, in input
/// order, as the endpoint's exact JSON inside an output line. Lines are read one at a time and written
/// after each batch, so memory stays flat whatever the file's size (at most two groups of lines are
/// held: the one being scored and the one being read or written).
public final class BatchRunner {
    public let options: BatchOptions
    private let scorer: Scorer
    private let modelName: String
    private let tokenizer: (any TextTokenizer)?
    /// `created` of `/v1/completions` answers: the input file's modification time, so that reruns,
    /// resumed runs and shards write the same bytes (standard input: the run's start).
    private let created: Date
    /// Lines held before a batch is forced even when their requests are not model work (errors,
    /// `/tokenize`): bounds memory on inputs that are mostly such lines.
    private static let maxPendingLines = 1024

    public init(options: BatchOptions, scorer: Scorer, modelName: String, tokenizer: (any TextTokenizer)?) {
        self.options = options
        self.scorer = scorer
        self.modelName = modelName
        self.tokenizer = tokenizer
        let modified = InputIdentity.modified(options.input)
        created = modified > 0 ? Date(timeIntervalSince1970: modified.rounded(.down)) : Date()
    }

    /// One taken input line, decoded.
    private struct Item {
        enum Outcome {
            /// A valid request; `scoring` nil for no model work.
            case call(EndpointCall)
            /// The endpoint's refusal (4xx), answered as HTTP would.
            case refused(APIError)
            /// Not a request: `error` object, `response` null.
            case unroutable(BatchLineError)
        }
        let line: Int
        let customID: String?
        let outcome: Outcome

        var scoring: ScoringRequest? {
            if case .call(let call) = outcome { return call.scoring }
            return nil
        }
    }

    /// The lines of one scorer call, in input order, and the input line index before which the input
    /// is done once they are written.
    private struct Group {
        var items: [Item] = []
        var upTo = 0
        var requests: [ScoringRequest] { items.compactMap(\.scoring) }
    }

    /// Runs to the end of the input; `progress` gets updates after every batch.
    ///
    /// Two stages overlap: while the scorer runs group N on another thread, this thread writes the
    /// answers of group N−1 and reads and decodes group N+1, so the scorer waits only for the moments
    /// between two calls, not for the JSON and tokenizer work around each.
    public func run(progressMode: Progress.Mode) throws(BatchError) -> BatchSummary {
        let start = ContinuousClock.Instant.now
        let fromStandardInput = options.input == "-"
        // A file is read once before any work: duplicate custom_ids are refused up front, and the
        // line count gives the progress line its total. Standard input is checked as it streams.
        let total = fromStandardInput ? nil : try DuplicateCheck.survey(options.input, shard: options.shard)
        var streamingCheck = DuplicateCheck()
        let sink: any BatchSink = options.output == "-"
            ? try DirectOutput(path: "-")
            : try CheckpointedOutput(path: options.output, input: options.input, shard: options.shard,
                                     checkpointLines: options.checkpointLines)
        let progress = Progress(mode: progressMode, label: "batch", unit: "lines", total: total)
        let reader = try LineReader(path: options.input)
        var summary = BatchSummary()
        /// The request that did not fit the last group: the first of the next.
        var carried: Item?
        var atEnd = false

        /// Reads and decodes input lines until the next group is complete: the next request would
        /// overflow `maxBatchTokens`, `maxPendingLines` are held, or the input ends (a last, possibly
        /// empty, group). Nil after that.
        func nextGroup() throws(BatchError) -> Group? {
            guard !atEnd else { return nil }
            var group = Group()
            var budget = BatchBudget(maxTokens: options.maxBatchTokens)
            if let item = carried {
                budget.add(item.scoring!.tokenCount)
                group.items.append(item)
                carried = nil
            }
            while let line = try reader.next() {
                let index = reader.lineNumber - 1
                guard !Self.isBlank(line) else { continue }
                let taken = options.shard.takes(line: index)
                if fromStandardInput && (!taken || index < sink.resumeLine), let id = BatchInputLine.customID(of: line) {
                    try streamingCheck.record(id, line: reader.lineNumber)
                }
                guard taken else { continue }
                if index < sink.resumeLine {
                    summary.resumedLines += 1
                    continue
                }
                let item = decode(line, number: reader.lineNumber)
                if fromStandardInput, let id = item.customID { try streamingCheck.record(id, line: item.line) }
                if let request = item.scoring {
                    if !budget.admits(request.tokenCount) {
                        carried = item
                        group.upTo = index
                        return group
                    }
                    budget.add(request.tokenCount)
                }
                group.items.append(item)
                if group.items.count >= Self.maxPendingLines {
                    group.upTo = index + 1
                    return group
                }
            }
            atEnd = true
            group.upTo = reader.lineNumber
            return group
        }

        /// Writes every line's answer of a scored group in order (`results`: one per request), and
        /// tells the sink that the input before `group.upTo` is done.
        func write(_ group: Group, _ results: [ScoringResult]) throws(BatchError) {
            var results = results[...]
            if !results.isEmpty { summary.forwardBatches += 1 }
            for item in group.items {
                let out: Data
                switch item.outcome {
                case .call(let call):
                    var result: ScoringResult?
                    if let request = call.scoring {
                        result = results.removeFirst()
                        summary.tokens += request.tokenCount
                        summary.scoredTokens += result!.batch.scoredTokens
                    }
                    out = BatchOutputLine.response(line: item.line, customID: item.customID!, status: 200, body: call.responseBody(result))
                case .refused(let error):
                    summary.errors[error.code, default: 0] += 1
                    out = BatchOutputLine.response(line: item.line, customID: item.customID!, status: error.status, body: error.jsonBody)
                case .unroutable(let error):
                    summary.errors[error.code, default: 0] += 1
                    out = BatchOutputLine.failure(line: item.line, error: error)
                }
                try sink.append(out)
            }
            summary.lines += group.items.count
            try sink.linesDone(upTo: group.upTo, force: false)
            progress.update(done: summary.lines + summary.resumedLines, tokens: summary.tokens, errors: summary.errorCount)
        }

        var inFlight: (group: Group, call: ScoringCall)?
        do {
            while let group = try nextGroup() {                  // decoded while the previous group is scored
                let previousResults = inFlight?.call.wait()
                let call = ScoringCall(scorer: scorer, requests: group.requests)
                if let previous = inFlight { try write(previous.group, previousResults!) }   // while `group` is scored
                inFlight = (group, call)
            }
            if let last = inFlight { try write(last.group, last.call.wait()) }
        } catch {
            _ = inFlight?.call.wait()   // the scorer's thread is done before the error leaves
            throw error
        }
        try sink.finish(inputLines: reader.lineNumber)
        progress.finish()
        summary.seconds = seconds(since: start)
        return summary
    }

    private func decode(_ line: Data, number: Int) -> Item {
        let input: BatchInputLine
        do { input = try BatchInputLine.parse(line) } catch {
            return Item(line: number, customID: error.customID, outcome: .unroutable(error))
        }
        let created = self.created
        let context = Endpoint.Context(modelName: modelName, config: scorer.config, tokenizer: tokenizer,
                                       completionIdentity: { ("cmpl-\(number)", created) })
        do {
            return Item(line: number, customID: input.customID, outcome: .call(try input.endpoint.decode(input.body, context: context)))
        } catch {
            return Item(line: number, customID: input.customID, outcome: .refused(error))
        }
    }

    /// A line of only spaces, tabs or carriage returns: skipped (no output), as JSONL readers do.
    static func isBlank(_ line: Data) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}

/// One `Scorer.score(batch:)` call running on another thread; `wait()` returns its results (none for
/// no requests, without starting a thread) and may be called again.
private final class ScoringCall: @unchecked Sendable {
    private static let queue = DispatchQueue(label: "lmscore.batch.scoring")
    private let running = DispatchGroup()
    /// Written on the scoring thread before it leaves `running`; read only after `wait()`.
    private var results: [ScoringResult] = []

    init(scorer: Scorer, requests: [ScoringRequest]) {
        guard !requests.isEmpty else { return }
        Self.queue.async(group: running) { self.results = scorer.score(batch: requests) }
    }

    func wait() -> [ScoringResult] {
        running.wait()
        return results
    }
}
