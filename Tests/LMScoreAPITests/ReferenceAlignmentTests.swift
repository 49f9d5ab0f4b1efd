import Foundation
import LMScoreTestSupport
import LMScoreAPI
import LMScoreEngine
import Testing

@Suite("JSON layer against the committed transformers reference")
struct ReferenceAlignmentTests {
    static let logprobTolerance = 2e-4

    @Test("response numbers line up with expected target_logprobs",
          arguments: ["sharded-untied-f32", "bf16-untied-erf", "f16-legacy-buffers"])
    func fixture(_ name: String) throws {
        let directory = Fixtures.committedReference.appendingPathComponent(name)
        let reference = try Fixtures.loadReference(directory)
        let scorer = Scorer(model: try Checkpoint.load(directory: directory))
        try #require(!reference.cases.isEmpty)
        var checked = 0

        for testCase in reference.cases {
            // Build the request as a client would, through the JSON schema.
            var body: [String: Any] = ["top_k": 5, "probabilities": true]
            if let sequences = testCase.sequences {
                body["sequences"] = sequences.map { $0.map(Int.init) }
            } else {
                body["inputs"] = try #require(testCase.inputs).map { $0.map(Int.init) }
                body["targets"] = try #require(testCase.targets).map { $0.map(Int.init) }
            }
            if let window = testCase.window { body["window"] = ["stride": window.stride] }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            let response = try scoreJSON(json, scorer: scorer, model: name)

            let results = try #require(response["results"] as? [[String: Any]])
            try #require(results.count == testCase.rows.count, "\(testCase.name): row count")
            let offset = testCase.sequences == nil ? 0 : 1   // sequences: position 0 has no prediction
            for (r, (row, expected)) in zip(results, testCase.rows).enumerated() {
                let label = "\(name)/\(testCase.name) row \(r)"
                let logprobs = try doubles(row["logprobs"])
                try #require(logprobs.count == expected.target_logprobs.count + offset, "\(label): length")
                if offset == 1 { #expect(logprobs[0] == nil, "\(label)") }
                let top = try #require(row["top"] as? [Any])
                for (t, want) in expected.target_logprobs.enumerated() {
                    let got = logprobs[t + offset]
                    guard let want else {
                        #expect(got == nil, "\(label) target \(t): expected null")
                        continue
                    }
                    let value = try #require(got, "\(label) target \(t): null, expected \(want)")
                    #expect(abs(value - want) <= Self.logprobTolerance, "\(label) target \(t): \(value) vs \(want)")
                    checked += 1
                    if let wantTop = expected.top?[t] {
                        let entries = try #require(top[t + offset] as? [[Any]], "\(label) target \(t): no top")
                        let ids = entries.compactMap { ($0.first as? NSNumber)?.intValue }
                        #expect(ids == wantTop.map { Int($0[0]) }, "\(label) target \(t): top-5 ids")
                    }
                }
                #expect(row["scored_tokens"] as? Int == expected.scored_tokens, "\(label)")
                let loss = try #require((row["loss"] as? NSNumber)?.doubleValue)
                #expect(abs(loss - expected.loss) <= 1e-5 * expected.loss, "\(label): loss \(loss) vs \(expected.loss)")
            }
            let batch = try #require(response["batch"] as? [String: Any])
            #expect(batch["scored_tokens"] as? Int == testCase.batch.scored_tokens, "\(testCase.name) batch")
            let batchLoss = try #require((batch["loss"] as? NSNumber)?.doubleValue)
            #expect(abs(batchLoss - testCase.batch.loss) <= 1e-5 * testCase.batch.loss, "\(testCase.name) batch loss")
        }
        #expect(checked > 0)
    }
}
