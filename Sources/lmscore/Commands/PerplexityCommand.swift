import ArgumentParser
import Foundation
import LMScoreBatch
import LMScoreEngine

/// `lmscore perplexity --model DIR --tokens FILE [--stride S]`: one long token stream scored with the
/// sliding window, like llama.cpp's `llama-perplexity`.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a long stream of token ids (whitespace separated) with a sliding window.")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "File of token ids separated by whitespace or commas ('-': standard input).")
    var tokens: String

    @OptionGroup var window: WindowOptions

    func run() throws {
        let ids = try parseTokens(readInput(tokens), source: tokens)
        let model = try options.load()
        let scorer = Scorer(model: model)
        let request = ScoringRequest(rows: .sequences([ids]), stride: window.stride)
        let start = Date()
        do { try request.validate(for: model.config) } catch {
            // sequences[0][17] → token 17 (the stream's position)
            let position = error.parameter.hasPrefix("sequences[0][")
                ? "token " + error.parameter.dropFirst("sequences[0][".count).dropLast() : Substring(error.parameter)
            throw CommandFailure("\(tokens): \(position): \(error.message)")
        }
        let progress = Progress.tokensRead("perplexity", quiet: window.quiet)
        let result = scorer.score(batch: [request], progress: progress.update(read:total:))[0]
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        let row = result.rows[0]
        let effectiveStride = window.effectiveStride(model.config)
        if window.json {
            let object: [String: Any] = [
                "model": model.name, "tokens": ids.count, "scored_tokens": row.scoredTokens,
                "loss": row.loss ?? NSNull(), "perplexity": row.perplexity ?? NSNull(),
                "windows": row.windows, "stride": effectiveStride, "seconds": seconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(line: "")
        } else {
            print("model:         \(model.name)")
            print("tokens:        \(ids.count)")
            print("windows:       \(row.windows) (n_positions \(model.config.nPositions), stride \(effectiveStride))")
            print("scored tokens: \(row.scoredTokens)")
            print("loss:          \(row.loss.map { String($0) } ?? "n/a (nothing scored)")")
            print("perplexity:    \(row.perplexity.map { String($0) } ?? "n/a")")
            print(String(format: "time:          %.2f s (%.0f tokens/s)", seconds, Double(ids.count) / max(seconds, 1e-9)))
        }
    }
}

func parseTokens(_ data: Data, source: String) throws -> [Int32] {
    guard let text = String(data: data, encoding: .utf8) else { throw CommandFailure("\(source): not UTF-8 text") }
    var ids: [Int32] = []
    for (i, word) in text.split(whereSeparator: { $0.isWhitespace || $0 == "," }).enumerated() {
        guard let id = Int32(word) else { throw CommandFailure("\(source): token \(i): \"\(word.prefix(20))\" is not a token id") }
        ids.append(id)
    }
    guard !ids.isEmpty else { throw CommandFailure("\(source): no token ids") }
    return ids
}
