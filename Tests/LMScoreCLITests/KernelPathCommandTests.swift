import Foundation
import LMScoreEngine
import LMScoreTestSupport
import Testing

/// The kernel paths end to end, one `lmscore` process per path (LMSCORE_KERNEL is read once per
/// process): every path this CPU has scores the committed reference checkpoints within their
/// tolerances, one and two threads give the same bits, and a path the CPU lacks is refused.
@Suite("Kernel paths through the CLI")
struct KernelPathCommandTests {
    /// A reference case's request as `lmscore score` JSON, and its float64 truth.
    func scoreReference(_ directory: URL, path: KernelPath, threads: Int = 2) throws -> (got: [[Double?]], expected: [[Double?]]) {
        let reference = try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let cases = reference.cases.filter { $0.sequences != nil && $0.window == nil }
        let rows = cases.flatMap { $0.sequences! }
        let body = try JSONSerialization.data(withJSONObject: ["sequences": rows.map { $0.map(Int.init) }])
        let result = try lmscore(["score", "--model", directory.path, "--threads", String(threads)], stdin: body,
                                 environment: [KernelPath.environmentVariable: path.rawValue], timeout: 120)
        #expect(result.status == 0, "\(result)")
        let results = try #require(try result.json()["results"] as? [[String: Any]])
        let got = results.map { ($0["logprobs"] as? [Any] ?? []).map { $0 as? Double } }
        let expected = cases.flatMap { c in c.rows.map { [nil] + $0.target_logprobs } }
        return (got, expected)
    }

    @Test("every path this CPU has matches the transformers references", arguments: KernelPath.supported)
    func referencesOnEveryPath(path: KernelPath) throws {
        for name in ["bf16-untied-erf", "f16-legacy-buffers", "sharded-untied-f32"] {
            let (got, expected) = try scoreReference(Fixtures.committedReference.appendingPathComponent(name), path: path)
            #expect(got.count == expected.count)
            var worst = 0.0
            for (g, e) in zip(got, expected) {
                #expect(g.count == e.count)
                for (a, b) in zip(g, e) { if let a, let b { worst = max(worst, abs(a - b)) } }
            }
            // ReferenceTests' logprob tolerance (the bar against float64).
            #expect(worst <= 2e-4, "\(path) \(name): max |Δ logprob| \(worst)")
            print("kernel path \(path) \(name): max |Δ logprob| vs float64 = \(worst)")
        }
    }

    @Test("one and two threads give the same bits", arguments: KernelPath.supported)
    func threadCountDoesNotChangeTheBits(path: KernelPath) throws {
        let directory = Fixtures.committedReference.appendingPathComponent("sharded-untied-f32")
        let one = try scoreReference(directory, path: path, threads: 1).got
        let two = try scoreReference(directory, path: path, threads: 2).got
        #expect(one == two)
    }

    @Test("LMSCORE_KERNEL naming no path, or one the CPU lacks, is one line and exit 1")
    func refusal() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        var refused = ["sse9"]
        refused += KernelPath.allCases.filter { !$0.isSupported }.map(\.rawValue)
        for name in refused {
            let result = try lmscore(["inspect", "--model", temp.file("model").path], environment: [KernelPath.environmentVariable: name])
            #expect(result.status == 1, "\(result)")
            #expect(result.errLines.count == 1 && result.err.contains("LMSCORE_KERNEL=\(name)"), "\(result)")
        }
        let inspect = try lmscore(["inspect", "--json", "--model", temp.file("model").path])
        #expect(try inspect.json()["kernel"] as? String == KernelPath.supported[0].rawValue)
    }
}
