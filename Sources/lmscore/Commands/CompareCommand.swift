import ArgumentParser
import Foundation
import LMScoreAPI
import LMScoreBatch
import LMScoreEngine
import LMScoreTokenizer

/// `lmscore compare --model A --reference B FILE`: one text (or stream of token ids) scored by both
/// models in the same sliding windows `lmscore perplexity` uses, with llama.cpp's `--kl-divergence`
/// report (KLDSummary) — how much a quantized, fine-tuned or distilled model A departs from B — plus
/// Binoculars and Fast-DetectGPT for the text.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "KL divergence, Δp, same-top and perplexity ratio of a model against a reference on one text (llama.cpp's KL-divergence report).")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "The reference (llama.cpp's base: e.g. the F16 model a quantized --model came from); a directory or GGUF file with the same tokenizer.")
    var reference: String

    @Argument(help: "A text file, or token ids separated by whitespace or commas ('-': standard input).")
    var file: String

    @Option(name: .long, help: "How FILE is read: auto (token ids when every word is an integer, else text), text or ids.")
    var format: InputFormat = .auto

    @OptionGroup var window: WindowOptions

    enum InputFormat: String, ExpressibleByArgument, CaseIterable { case auto, text, ids }

    func run() throws {
        let data = try readInput(file)
        let model = try options.load()
        let reference: DecoderModel
        do {
            reference = try Checkpoint.load(directory: URL(fileURLWithPath: self.reference), context: options.context)
        } catch { throw CommandFailure("cannot load reference: \(error)") }
        let tokenizer = try options.loadTokenizer(for: model)
        let referenceTokenizer = try options.loadTokenizer(for: reference)

        // The same checks `/score`'s reference gets: vocabulary, context, tokenizer.
        let (modelName, referenceName) = (model.name, reference.name == model.name ? reference.name + " (reference)" : reference.name)
        let catalog = Endpoint.Catalog(models: [
            Endpoint.Context(modelName: modelName, config: model.config, tokenizer: tokenizer),
            Endpoint.Context(modelName: referenceName, config: reference.config, tokenizer: referenceTokenizer),
        ])
        let ids = try readIDs(data, tokenizer: tokenizer)
        let request = ScoringRequest(rows: .sequences([ids]), stride: window.stride)
        do {
            try request.validate(for: model.config)
            _ = try catalog.reference(referenceName, for: catalog.models[0], request: request)
        } catch let error as LMScoreEngine.ValidationError {
            throw CommandFailure("\(file): \(error.message)")
        } catch let error as APIError {
            throw CommandFailure(error.message)
        }

        let scorer = Scorer(model: model), referenceScorer = Scorer(model: reference)
        let start = Date()
        let progress = Progress.tokensRead("compare", quiet: window.quiet)
        let result = scorer.compare(batch: [request], reference: referenceScorer, progress: progress.update(read:total:))[0]
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        let comparison = result.comparison!
        guard let summary = comparison.summary else { throw CommandFailure("\(file): nothing to score (one token)") }
        let row = result.rows[0], compared = comparison.rows[0]
        let effectiveStride = window.effectiveStride(model.config)
        if window.json {
            let report = Report(model: modelName, reference: referenceName, tokens: ids.count, windows: row.windows, stride: effectiveStride,
                                kld: KLDJSON(summary), binoculars: compared.binoculars, fastDetectGPT: compared.fastDetectGPT, seconds: seconds)
            // JSONEncoder.scores escapes no "/": model names are directory names, which hold none.
            FileHandle.standardOutput.write(try JSONEncoder.scores.encode(report))
            FileHandle.standardOutput.write(line: "")
        } else {
            print("model:     \(modelName)")
            print("reference: \(referenceName)")
            print("tokens:    \(ids.count) in \(row.windows) windows (n_positions \(model.config.nPositions), stride \(effectiveStride)); \(summary.count) scored")
            print(String(format: "time:      %.2f s", seconds))
            print("")
            print(Self.report(summary, binoculars: compared.binoculars, fastDetectGPT: compared.fastDetectGPT))
        }
    }

    /// FILE's token ids: read as ids, or tokenized as text (with the tokenizer's BOS first when it adds one).
    private func readIDs(_ data: Data, tokenizer: (any TextTokenizer)?) throws -> [Int32] {
        guard let text = String(data: data, encoding: .utf8) else { throw CommandFailure("\(file): not UTF-8") }
        let words = text.split(whereSeparator: { $0.isWhitespace || $0 == "," || $0 == "[" || $0 == "]" })
        let looksLikeIDs = !words.isEmpty && words.allSatisfy { Int32($0) != nil }
        if format == .ids || (format == .auto && looksLikeIDs) {
            let cleaned = Data(String(text.map { $0 == "[" || $0 == "]" ? " " : $0 }).utf8)
            return try parseTokens(cleaned, source: file)
        }
        guard let tokenizer else { throw CommandFailure("\(file): the model has no tokenizer: give token ids (--format ids)") }
        let ids = tokenizer.encode(text, allowSpecial: false)
        guard !ids.isEmpty else { throw CommandFailure("\(file): the text encodes to no tokens") }
        if tokenizer.addsBeginningOfSequence, let bos = tokenizer.beginningOfSequence { return [bos] + ids }
        return ids
    }

    struct Report: Encodable {
        let model: String
        let reference: String
        let tokens: Int
        let windows: Int
        let stride: Int
        let kld: KLDJSON
        let binoculars: Double?
        let fastDetectGPT: Double?
        let seconds: Double

        enum CodingKeys: String, CodingKey {
            case model, reference, tokens, windows, stride, kld, binoculars, seconds
            case fastDetectGPT = "fast_detect_gpt"
        }
    }

    /// llama.cpp's report layout (perplexity.cpp's `kl_divergence`), base = the reference.
    static func report(_ s: KLDSummary, binoculars: Double?, fastDetectGPT: Double?) -> String {
        func estimate(_ label: String, _ e: KLDSummary.Estimate) -> String {
            String(format: "%@: %10.6f ± %10.6f", label.padding(toLength: 30, withPad: " ", startingAt: 0), e.value, e.uncertainty)
        }
        func percent(_ x: Double) -> String { String(format: "%6.3f%%", 100 * x) }
        func percentEstimate(_ e: KLDSummary.Estimate) -> String { String(format: "%6.3f ± %5.3f %%", 100 * e.value, 100 * e.uncertainty) }
        // "Maximum KLD: …", the percentiles above the median, "Median  KLD: …", those below, "Minimum KLD: …".
        func distribution(_ d: KLDSummary.Distribution, _ name: String, _ format: (Double) -> String) -> [String] {
            func line(_ label: String, _ value: Double) -> String {
                label.padding(toLength: 8, withPad: " ", startingAt: 0) + name + ": " + format(value)
            }
            return [line("Maximum", d.maximum)]
                + d.percentiles.filter { Double($0.label)! >= 50 }.map { line($0.label + "%", $0.value) }
                + [line("Median", d.median)]
                + d.percentiles.filter { Double($0.label)! < 50 }.map { line($0.label + "%", $0.value) }
                + [line("Minimum", d.minimum)]
        }
        var lines = ["====== Perplexity statistics ======",
                     estimate("Mean PPL(Q)", s.perplexity),
                     estimate("Mean PPL(base)", s.referencePerplexity),
                     String(format: "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%", 100 * (s.lnPerplexityCorrelation ?? .nan)),
                     estimate("Mean ln(PPL(Q)/PPL(base))", s.lnPerplexityRatio),
                     estimate("Mean PPL(Q)/PPL(base)", s.perplexityRatio),
                     estimate("Mean PPL(Q)-PPL(base)", s.perplexityDifference)]
        lines += ["", "====== KL divergence statistics ======",
                  String(format: "Mean    KLD: %10.6f ± %10.6f", s.klMean.value, s.klMean.uncertainty)]
        lines += distribution(s.kl, "KLD") { String(format: "%10.6f", $0) }
        lines += ["", "====== Token probability statistics ======",
                  "Mean    Δp: " + percentEstimate(s.deltaPMean)]
        lines += distribution(s.deltaP, "Δp", percent)
        lines += ["RMS Δp    : " + percentEstimate(s.deltaPRMS),
                  "Same top p: " + percentEstimate(s.sameTop)]
        lines += ["", "====== Detection scores (model = performer / scorer, reference = observer / sampler) ======",
                  "Binoculars     : " + (binoculars.map { String(format: "%.6f", $0) } ?? "n/a"),
                  "Fast-DetectGPT : " + (fastDetectGPT.map { String(format: "%.6f", $0) } ?? "n/a")]
        return lines.joined(separator: "\n")
    }
}
