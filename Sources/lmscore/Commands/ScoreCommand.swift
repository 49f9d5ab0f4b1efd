import ArgumentParser
import Foundation
import LMScoreAPI
import LMScoreBatch
import LMScoreEngine
import LMScoreTokenizer

/// `lmscore score --model DIR [FILE]`: the `/score` request JSON in, the response JSON out.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score a request (the /score JSON schema) from FILE or standard input; the response JSON goes to standard output.")

    @OptionGroup var options: ModelOptions

    @Flag(name: .long, help: "Indent the JSON output.")
    var pretty = false

    @Flag(name: .long, help: "No progress line on standard error (shown on a terminal, or every 10 s otherwise, while a request is scored).")
    var quiet = false

    @Argument(help: "Request JSON file ('-' or absent: standard input).")
    var file: String?

    func run() throws {
        let model = try options.load()
        let tokenizer = try options.loadTokenizer(for: model)
        let body = try readInput(file)
        let scorer = Scorer(model: model)
        do {
            let call = try ScoreCall.decode(body, config: model.config, tokenizer: tokenizer, servedModel: model.name)
            if let reference = call.reference {
                // One model here: a reference is another model's name, which this command does not load (404;
                // `lmscore compare` takes two).
                let context = Endpoint.Context(modelName: model.name, config: model.config, tokenizer: tokenizer)
                _ = try Endpoint.Catalog(models: [context]).reference(reference, for: context, request: call.request)
            }
            let progress = Progress.tokensRead("score", quiet: quiet)
            let result = scorer.score(batch: [call.request], progress: progress.update(read:total:))[0]
            progress.finish()
            let response = ScoreResponse(model: model.name, result: result, call: call, tokenizer: tokenizer)
            FileHandle.standardOutput.write(response.jsonData(pretty: pretty))
            FileHandle.standardOutput.write(line: "")
        } catch {
            // The same error body the HTTP API returns, then one line on stderr and exit 1.
            FileHandle.standardOutput.write(error.jsonBody)
            FileHandle.standardOutput.write(line: "")
            throw CommandFailure("\(error.status): \(error)")
        }
    }
}
