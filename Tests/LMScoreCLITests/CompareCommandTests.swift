import Foundation
import LMScoreEngine
import LMScoreTestSupport
import Testing

/// `lmscore compare`: the report and its JSON are the engine's comparison of the same windows; text
/// and ids inputs; every refusal is one line and exit status 1.
@Suite("lmscore compare")
struct CompareCommandTests {
    @Test("token ids, --json and the llama.cpp-style report: the engine's KLD summary, Binoculars and Fast-DetectGPT")
    func idsReport() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let model = temp.file("model"), reference = temp.file("reference")
        _ = try writeTinyCheckpoint(to: model, seed: 9)
        _ = try writeTinyCheckpoint(to: reference, seed: 10)
        let ids = tokenRow(200, seed: 5)
        let tokens = try temp.write("ids.txt", "[" + ids.map(String.init).joined(separator: ", ") + "]")

        let engine = Scorer(model: try Checkpoint.load(directory: model)).compare(
            batch: [ScoringRequest(rows: .sequences([ids]), stride: 16)], reference: Scorer(model: try Checkpoint.load(directory: reference)))[0]
        let summary = try #require(engine.comparison?.summary)

        let json = try lmscore(["compare", "--model", model.path, "--reference", reference.path, tokens, "--stride", "16", "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try json.json()
        #expect(object["tokens"] as? Int == 200 && object["stride"] as? Int == 16)
        let kld = try #require(object["kld"] as? [String: Any])
        #expect(kld["positions"] as? Int == 199)
        let kl = try #require(kld["kl_divergence"] as? [String: Any])
        #expect(abs(try #require(number(kl["mean"])) - summary.klMean.value) <= 1e-14)
        #expect(abs(try #require(number(kl["median"])) - summary.kl.median) <= 1e-14)
        let ratio = try #require(kld["ln_perplexity_ratio"] as? [String: Any])
        #expect(abs(try #require(number(ratio["value"])) - summary.lnPerplexityRatio.value) <= 1e-14)
        #expect(abs(try #require(number(object["binoculars"])) - engine.comparison!.rows[0].binoculars!) <= 1e-14)
        #expect(abs(try #require(number(object["fast_detect_gpt"])) - engine.comparison!.rows[0].fastDetectGPT!) <= 1e-12)

        let text = try lmscore(["compare", "--model", model.path, "--reference", reference.path, tokens, "--stride", "16"])
        #expect(text.status == 0, "\(text)")
        for line in [String(format: "Mean    KLD: %10.6f ± %10.6f", summary.klMean.value, summary.klMean.uncertainty),
                     String(format: "Same top p: %6.3f ± %5.3f %%", 100 * summary.sameTop.value, 100 * summary.sameTop.uncertainty),
                     String(format: "Median  KLD: %10.6f", summary.kl.median), "====== Perplexity statistics ======"] {
            #expect(text.out.contains(line), "missing \(line) in\n\(text.out)")
        }
    }

    @Test("a text, the bundled model against itself under another name: KL 0, the same top everywhere")
    func textAndTokenizers() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let text = try temp.write("text.txt", "The quick brown fox jumps over the lazy dog.")
        let bundled = Fixtures.repositoryRoot.appendingPathComponent("Models/lmscore-gpt2-small-en")
        // The bundled model against itself (another name): a text, KL 0 everywhere.
        let same = try lmscore(["compare", "--model", bundled.path, "--reference", bundled.path, text, "--json"])
        #expect(same.status == 0, "\(same)")
        let kld = try #require(try same.json()["kld"] as? [String: Any])
        let kl = try #require(kld["kl_divergence"] as? [String: Any])
        #expect(try #require(number(kl["maximum"])) <= 1e-12)
        #expect((kld["same_top"] as? [String: Any]).flatMap { number($0["fraction"]) } == 1)
    }

    @Test("refusals: another vocabulary, ids out of range, unreadable file", arguments: ["vocab", "range", "missing"])
    func refusals(kind: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let model = temp.file("model")
        _ = try writeTinyCheckpoint(to: model, seed: 9)
        var reference = model.path
        var file = try temp.write("ids.txt", "1 2 3 4 5")
        var expected = ""
        switch kind {
        case "vocab":
            reference = Fixtures.committedReference.appendingPathComponent("qwen2-untied").path
            expected = "vocabularies differ in size"
        case "range":
            file = try temp.write("ids.txt", "1 2 99999")
            expected = "out of range"
        default:
            file = temp.file("nope.txt").path
            expected = "cannot read"
        }
        let run = try lmscore(["compare", "--model", model.path, "--reference", reference, file])
        #expect(run.status == 1, "\(run)")
        #expect(run.err.contains(expected), "\(run)")
    }

    @Test("lmscore score loads one model: a reference or another model name is a 404 naming it, not ignored")
    func scoreRefusesAReference() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let model = temp.file("model")
        _ = try writeTinyCheckpoint(to: model, seed: 9)
        for (field, param) in [(#""reference": "other""#, "reference"), (#""model": "other""#, "model")] {
            let run = try lmscore(["score", "--model", model.path], stdin: Data(#"{"sequences": [[1, 2, 3]], \#(field)}"#.utf8))
            #expect(run.status == 1, "\(run)")
            let error = try #require(try run.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "model_not_found" && error["param"] as? String == param, "\(run)")
        }
        let named = try lmscore(["score", "--model", model.path], stdin: Data(#"{"sequences": [[1, 2, 3]], "model": "model"}"#.utf8))
        #expect(named.status == 0, "\(named)")
    }
}
