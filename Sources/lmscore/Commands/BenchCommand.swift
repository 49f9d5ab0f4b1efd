import ArgumentParser
import Foundation
import LMScoreEngine

/// `lmscore bench --model DIR`: scoring throughput and memory per request shape (rows × tokens),
/// measured the way clients see it (forward pass + log-softmax + gather, per call).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure scoring speed (tokens/s, ms per call) and peak RSS for request shapes.")

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Comma-separated shapes ROWSxTOKENS; one call with rows of several lengths joins them with + (4x60+10x180+3x290).")
    var shapes: String = "1x16,32x16,8x128,1x1024,4x512"

    @Option(name: .long, help: "Time budget per shape, in seconds (at least 3 timed calls after a warm-up).")
    var seconds: Double = 3

    @Option(name: .long, help: "Seed for the random token ids.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Also score every row alone and report the largest |Δ logprob| against the packed call.")
    var invariance = false

    @Option(name: .long, help: "MxKxN of one matrix product timed alone after the shapes, on the kernels (GFLOP/s, and its fraction of the FP32 peak measured on the spot), with the memory read bandwidth; empty: skip.")
    var product: String = "1024x768x3072"

    @Option(name: .long, help: "B's element type in --product: F32, F16 or BF16 (16-bit B is converted in registers, as 16-bit checkpoints are).")
    var productType: TensorDType = .f32

    @Flag(name: .long, help: "After the shapes: each weight product's share of the calls' time and its GFLOP/s inside them (wall time per product, summed over the shape's calls).")
    var productTimes = false

    @Option(name: .long, help: "Instead of --shapes: multiple choice CONTEXTxCHOICESxLENGTH (e.g. 500x4x5), scored as `choices` (context read once) and as full sequences.")
    var choices: String?

    func run() throws {
        let parsed = try shapes.split(separator: ",").map(CallShape.init)
        let rssBefore = ResidentMemory.currentMB
        let loadStart = Date()
        let model = try options.load()
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let compute = ComputeContext(path: try KernelPath.active(), threads: options.threads,
                                     productTimes: productTimes ? ProductTimes() : nil)
        let scorer = Scorer(model: model, maxTokensPerForward: 1 << 16, compute: compute)
        let weightsMB = Double(model.summary.mappedBytes + model.summary.copiedBytes) / 1_048_576

        print("lmscore bench: \(model.name), \(model.config.parameterCount) parameters, \(model.summary.dtypes.joined(separator: ",")), "
              + "\(options.threads) threads, kernels \(try KernelPath.active().summary)")
        print(String(format: "model load: %.3f s; weights %.0f MB (%.0f MB mapped, %.0f MB copied); RSS before load %.0f MB",
                     loadSeconds, weightsMB, Double(model.summary.mappedBytes) / 1_048_576,
                     Double(model.summary.copiedBytes) / 1_048_576, rssBefore))
        print("command: lmscore bench \(CommandLine.arguments.dropFirst(2).joined(separator: " "))")
        print("")
        if let choices {
            try benchChoices(choices, scorer: scorer)
            return
        }
        let weightBytes = Double(model.summary.mappedBytes + model.summary.copiedBytes)
        print("| shape | tokens/call | ms/call (median) | tokens/s | weights read GB/s | peak RSS MB |" + (invariance ? " max Δ logprob alone vs packed |" : ""))
        print("|---|---|---|---|---|---|" + (invariance ? "---|" : ""))
        var random = SplitMix64(seed: seed)
        var breakdowns: [Breakdown] = []
        for shape in parsed {
            let vocab = UInt64(model.config.vocabSize)
            let rows = shape.rowLengths.map { length in (0..<length).map { _ in Int32(random.next() % vocab) } }
            let request = ScoringRequest(rows: .sequences(rows))
            var last: ScoringResult?
            var calls = 0
            let started = DispatchTime.now().uptimeNanoseconds
            let median = medianSeconds { last = scorer.score(batch: [request])[0]; calls += 1 }
            if let times = compute.productTimes {   // the calls just timed, warm-up included
                breakdowns.append(Breakdown(shape: shape.spec, calls: calls, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                                            products: times.drain()))
            }
            let tokens = shape.tokens
            var line = String(format: "| %@ | %d | %.1f | %.0f | %.1f | %.0f |", shape.spec, tokens, median * 1000,
                              Double(tokens) / median, weightBytes / median / 1e9, ResidentMemory.peakMB)
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
        if !breakdowns.isEmpty { printBreakdowns(breakdowns) }
        // Last: its buffers (a 256 MB bandwidth probe) would otherwise count in the shapes' peak RSS.
        if !product.isEmpty { try benchProduct(compute) }
    }

    /// `--product-times`: per shape, each weight product's share of the calls' wall time and its speed
    /// inside them; what remains is attention, norms, activations and the LM head's fold.
    private struct Breakdown {
        let shape: String
        let calls: Int         // scoring calls, warm-up included
        let seconds: Double    // their wall time
        let products: [ProductTimes.Entry]
    }

    private func printBreakdowns(_ breakdowns: [Breakdown]) {
        print("")
        print("| shape | weight product (M×K×N, B's layout, type) | per call | share of the calls' time | GFLOP/s inside the calls |")
        print("|---|---|---|---|---|")
        for breakdown in breakdowns {
            for entry in breakdown.products {
                print(String(format: "| %@ | %@ | %d | %.1f %% | %.1f |", breakdown.shape, entry.shape, entry.calls / max(breakdown.calls, 1),
                             100 * entry.seconds / breakdown.seconds, entry.flop / entry.seconds / 1e9))
            }
            let rest = breakdown.seconds - breakdown.products.reduce(0) { $0 + $1.seconds }
            print(String(format: "| %@ | everything else: attention, norms, activations, the LM head's fold | | %.1f %% | |",
                         breakdown.shape, 100 * rest / breakdown.seconds))
        }
    }

    /// One product alone (both B layouts) against the path's FP32 peak, and the memory read bandwidth.
    private func benchProduct(_ compute: ComputeContext) throws {
        let parts = product.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else { throw CommandFailure("bad --product \(product): use MxKxN") }
        let (m, k, n) = (parts[0], parts[1], parts[2])
        print("")
        let path = compute.path
        // Peak: measured (FMA chains in registers on every thread), not threads × lanes × units × 2 ×
        // the clock /proc/cpuinfo reports: a VM's cores boost above that figure, and the FMA units per
        // core differ between CPUs. The clock it implies (2 FMA units per core) is printed beside it.
        let peak = KernelBenchmark.fmaPeakGFLOPS(seconds: min(seconds, 2), compute: compute)
        let megahertz = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("cpu MHz") }
            .flatMap { $0.split(separator: ":").last }.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let impliedGHz = peak / (Double(options.threads) * Double(path.lanes) * 2 * 2)
        print(String(format: "FP32 peak, measured: %.1f GFLOP/s (%d threads × %d lanes of FMA chains in registers; %.2f GHz if each core has 2 FMA units%@)",
                     peak, options.threads, path.lanes, impliedGHz, megahertz.map { String(format: "; /proc/cpuinfo says %.0f MHz", $0) } ?? ""))
        // Twice per layout: B reused (it stays in L2 or L3: the kernel's own speed), and B read from
        // memory on every call (as a scoring call reads its weights; what a few rows are held to).
        for transposeB in [false, true] {
            let cached = KernelBenchmark.productGFLOPS(m: m, k: k, n: n, transposeB: transposeB, weights: productType, seconds: seconds,
                                                       compute: compute)
            let fromMemory = KernelBenchmark.productGFLOPS(m: m, k: k, n: n, transposeB: transposeB, weights: productType,
                                                           fromMemory: true, seconds: seconds, compute: compute)
            let bytes = Double(k * n * productType.byteSize)
            print(String(format: "product %dx%dx%d alone, B %@ %@: %.1f GFLOP/s = %.0f %% of the measured peak; B from memory: %.1f GFLOP/s = %.0f %% (B read at %.1f GB/s)",
                         m, k, n, transposeB ? "[N, K]" : "[K, N]", productType.rawValue, cached, 100 * cached / peak, fromMemory,
                         100 * fromMemory / peak, fromMemory / (2 * Double(m) * Double(n) * Double(k)) * bytes))
        }
        print(String(format: "memory read bandwidth (%d threads, 256 MB): %.1f GB/s", options.threads, KernelBenchmark.readBandwidth(seconds: seconds, threads: compute.threads) / 1e9))
    }

    /// Median seconds per call of `body`, after one warm-up call (pages in weights, sizes buffers).
    private func medianSeconds(_ body: () -> Void) -> Double {
        KernelBenchmark.medianSeconds(seconds, body)
    }

    /// One multiple-choice item scored both ways; reports the speed-up and the largest difference.
    private func benchChoices(_ spec: String, scorer: Scorer) throws {
        let parts = spec.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else {
            throw CommandFailure("bad --choices \(spec): use CONTEXTxCHOICESxLENGTH, e.g. 500x4x5")
        }
        var random = SplitMix64(seed: seed)
        let vocab = UInt64(scorer.config.vocabSize)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(random.next() % vocab) } }
        let group = ChoiceGroup(context: tokens(parts[0]), continuations: (0..<parts[1]).map { _ in tokens(parts[2]) })
        let asChoices = ScoringRequest(rows: .choices([group]))
        let asSequences = ScoringRequest(rows: .sequences(group.continuations.map { group.context + $0 }))
        // The cheapest full-sequence form: only the continuation's targets go through the LM head.
        let asTargets = ScoringRequest(rows: .inputsTargets(
            inputs: group.continuations.map { Array((group.context + $0).dropLast()) },
            targets: group.continuations.map { Array(repeating: ScoringRequest.ignoredTarget, count: group.context.count - 1) + $0 }))
        for request in [asChoices, asSequences, asTargets] {
            do { try request.validate(for: scorer.config) } catch { throw CommandFailure("--choices \(spec): \(error)") }
        }
        var a: ScoringResult?, b: ScoringResult?
        let sequencesTime = medianSeconds { b = scorer.score(batch: [asSequences])[0] }
        let targetsTime = medianSeconds { _ = scorer.score(batch: [asTargets]) }
        let choicesTime = medianSeconds { a = scorer.score(batch: [asChoices])[0] }
        var worst = 0.0
        for (row, full) in zip(a!.rows, b!.rows) {
            for (x, y) in zip(row.positions, full.positions.suffix(parts[2])) {
                if let x, let y { worst = max(worst, abs(x.logprob - y.logprob)) }
            }
        }
        print("multiple choice: \(parts[1]) continuations of \(parts[2]) tokens after a \(parts[0])-token context")
        print("")
        print("| scored as | tokens read | ms/call (median) | speed-up |")
        print("|---|---|---|---|")
        print(String(format: "| `sequences`: context + continuation, every token scored | %d | %.1f | 1.00× |",
                     asSequences.tokenCount, sequencesTime * 1000))
        print(String(format: "| `inputs`/`targets`: context + continuation, context targets -100 | %d | %.1f | %.2f× |",
                     asTargets.tokenCount, targetsTime * 1000, sequencesTime / targetsTime))
        print(String(format: "| `choices`: context read once | %d | %.1f | %.2f× (%.2f× over inputs/targets) |",
                     parts[0] + parts[1] * (parts[2] - 1), choicesTime * 1000, sequencesTime / choicesTime, targetsTime / choicesTime))
        print(String(format: "\nmax |Δ logprob| choices vs sequences: %.2e; peak RSS %.0f MB", worst, ResidentMemory.peakMB))
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

/// One benchmarked call: `ROWSxTOKENS` (rows of one length), or several joined by `+` for a call
/// whose rows differ in length, as a batch of real texts does (`4x60+10x180+3x290`).
struct CallShape {
    let spec: String
    /// The length of each row of the call, in order.
    let rowLengths: [Int]
    var tokens: Int { rowLengths.reduce(0, +) }

    init(_ spec: Substring) throws {
        var lengths: [Int] = []
        for term in spec.split(separator: "+", omittingEmptySubsequences: false) {
            let parts = term.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 2, let rows = parts[0], let length = parts[1], rows > 0, length > 1 else {
                throw CommandFailure("bad shape \(spec): use ROWSxTOKENS, or several joined by + (4x60+10x180)")
            }
            lengths += Array(repeating: length, count: rows)
        }
        self.spec = String(spec)
        rowLengths = lengths
    }
}

extension TensorDType: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
}
