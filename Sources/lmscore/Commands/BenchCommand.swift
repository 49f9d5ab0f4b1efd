import ArgumentParser
import Foundation
import LMScoreEngine

/// `lmscore bench --model DIR`: scoring throughput and memory per request shape (rows × tokens),
/// measured the way clients see it (forward pass + log-softmax + gather, per call).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure scoring speed (tokens/s, ms per call) and peak RSS for request shapes.")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Comma-separated shapes ROWSxTOKENS.")
    var shapes: String = "1x16,32x16,8x128,1x1024,4x512"

    @Option(name: .long, help: "Time budget per shape, in seconds (at least 3 timed calls after a warm-up).")
    var seconds: Double = 3

    @Option(name: .long, help: "Seed for the random token ids.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Also score every row alone and report the largest |Δ logprob| against the packed call.")
    var invariance = false

    func run() throws {
        let parsed = try shapes.split(separator: ",").map { spec -> (rows: Int, tokens: Int) in
            let parts = spec.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 1 else { throw CommandFailure("bad shape \(spec): use ROWSxTOKENS") }
            return (parts[0], parts[1])
        }
        let rssBefore = ResidentMemory.currentMB
        let loadStart = Date()
        let model = try options.load()
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let scorer = Scorer(model: model, maxTokensPerForward: 1 << 16)
        let weightsMB = Double(model.summary.mappedBytes + model.summary.copiedBytes) / 1_048_576

        print("lmscore bench: \(model.name), \(model.config.parameterCount) parameters, \(model.summary.dtypes.joined(separator: ",")), "
              + "\(options.threads) BLAS threads")
        print(String(format: "model load: %.3f s; weights %.0f MB (%.0f MB mapped, %.0f MB copied); RSS before load %.0f MB",
                     loadSeconds, weightsMB, Double(model.summary.mappedBytes) / 1_048_576,
                     Double(model.summary.copiedBytes) / 1_048_576, rssBefore))
        print("command: lmscore bench \(CommandLine.arguments.dropFirst(2).joined(separator: " "))")
        print("")
        print("| shape | tokens/call | ms/call (median) | tokens/s | peak RSS MB |" + (invariance ? " max Δ logprob alone vs packed |" : ""))
        print("|---|---|---|---|---|" + (invariance ? "---|" : ""))
        var random = SplitMix64(seed: seed)
        for shape in parsed {
            let vocab = UInt64(model.config.vocabSize)
            let rows = (0..<shape.rows).map { _ in (0..<shape.tokens).map { _ in Int32(random.next() % vocab) } }
            let request = ScoringRequest(rows: .sequences(rows))
            _ = scorer.score(batch: [request])  // warm-up: page in weights, size buffers
            var times: [Double] = []
            let budgetStart = Date()
            var last: ScoringResult?
            while times.count < 3 || Date().timeIntervalSince(budgetStart) < seconds {
                let start = DispatchTime.now().uptimeNanoseconds
                last = scorer.score(batch: [request])[0]
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            times.sort()
            let median = times[times.count / 2]
            let tokens = shape.rows * shape.tokens
            var line = String(format: "| %dx%d | %d | %.1f | %.0f | %.0f |", shape.rows, shape.tokens, tokens, median * 1000,
                              Double(tokens) / median, ResidentMemory.peakMB)
            if invariance, let packed = last {
                var worst = 0.0
                for (r, row) in rows.enumerated() {
                    let alone = scorer.score(batch: [ScoringRequest(rows: .sequences([row]))])[0].rows[0]
                    for (a, b) in zip(alone.positions, packed.rows[r].positions) {
                        if let a, let b { worst = max(worst, abs(a.logprob - b.logprob)) }
                    }
                }
                line += String(format: " %.2e |", worst)
            }
            print(line)
        }
    }
}

enum ResidentMemory {
    /// Peak resident set size of this process (getrusage), in MB.
    static var peakMB: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// Current resident set size (/proc/self/statm), in MB.
    static var currentMB: Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
