import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer
import Testing

/// `statistics`, `model` and `reference` in request bodies: decoding, every error, the response
/// fields, and the catalog's checks of which models may be compared.
@Suite("Statistics, model and reference fields")
struct StatisticsAndCatalogTests {
    static let row = tokenRow(12, seed: 3)

    @Test("statistics: entropy and rank lists aligned with logprobs (null where it is), the engine's numbers")
    func statisticsInScore() throws {
        let scorer = try TinyModel.scorer()
        let json = try scoreJSON(#"{"sequences": \#(jsonRows([Self.row])), "statistics": ["rank", "entropy"]}"#, scorer: scorer)
        let result = try #require((json["results"] as? [[String: Any]])?.first)
        let engine = scorer.score(batch: [ScoringRequest(rows: .sequences([Self.row]), statistics: [.entropy, .rank])])[0].rows[0]
        // Foundation's JSON parser may read a double a few ulps off.
        let entropy = try doubles(result["entropy"])
        #expect(zip(entropy, engine.positions).allSatisfy { got, score in
            got == nil ? score == nil : isClose(got!, score!.entropy!, relative: 1e-14)
        } && entropy.count == engine.positions.count)
        #expect(try doubles(result["rank"]) == engine.positions.map { $0.map { Double($0.rank!) } })
        #expect(try doubles(result["entropy"])[0] == nil && doubles(result["logprobs"])[0] == nil)
        for key in ["kl", "delta_p", "binoculars"] { #expect(result[key] == nil) }
        let plain = try #require((try scoreJSON(#"{"sequences": \#(jsonRows([Self.row]))}"#, scorer: scorer)["results"] as? [[String: Any]])?.first)
        #expect(plain["entropy"] == nil && plain["rank"] == nil)
        #expect(try doubles(plain["logprobs"]) == doubles(result["logprobs"]))
    }

    @Test("statistics errors: unknown name, wrong types", arguments: [
        (#""statistics": ["entropy", "perplexity"]"#, "statistics[1]", "unsupported_value"),
        (#""statistics": "entropy""#, "statistics", "invalid_type"),
        (#""statistics": [1]"#, "statistics[0]", "invalid_type"),
        (#""reference": 3"#, "reference", "invalid_type"),
        (#""model": ["tiny"]"#, "model", "invalid_type"),
    ])
    func statisticsErrors(field: String, param: String, code: String) throws {
        let error = try #require(decodeError(#"{"sequences": [[1, 2, 3]], \#(field)}"#))
        #expect(error.status == 422 && error.param == param && error.code == code, "\(error)")
    }

    @Test("/v1/completions: entropy and rank in the logprobs object, aligned with token_logprobs; without logprobs a 422")
    func completions() throws {
        let scorer = try TinyModel.scorer()
        // The tiny model has no tokenizer: ids decode, but the answer's strings need one (the HTTP tests cover
        // the full exchange); the decoder's part is checked here.
        let body = #"{"prompt": [1, 2, 3, 4], "echo": true, "max_tokens": 0, "logprobs": 0, "statistics": ["entropy", "rank"]}"#
        let call = try CompletionsCall.decode(Data(body.utf8), config: scorer.config, modelName: "tiny", tokenizer: nil)
        #expect(call.request.statistics == [.entropy, .rank])
        do {
            _ = try CompletionsCall.decode(Data(#"{"prompt": [1, 2], "echo": true, "max_tokens": 0, "statistics": ["rank"]}"#.utf8),
                                           config: scorer.config, modelName: "tiny", tokenizer: nil)
            Issue.record("statistics without logprobs were accepted")
        } catch {
            #expect(error.status == 422 && error.param == "statistics")
        }
    }

    // MARK: - Catalog

    static func context(_ name: String, config: ModelConfig = tinyConfig, tokenizer: (any TextTokenizer)? = nil) -> Endpoint.Context {
        Endpoint.Context(modelName: name, config: config, tokenizer: tokenizer)
    }

    /// A tokenizer.json whose BPE vocabulary is `tokens` (ids in order), no merges.
    static func tokenizer(_ tokens: [String]) throws -> HFTokenizer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-catalog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = tokens.enumerated().map { "\"\($1)\": \($0)" }.joined(separator: ", ")
        let json = #"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {"type": "BPE", "vocab": {\#(vocab)}, "merges": [], "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false}}"#
        let file = directory.appendingPathComponent("tokenizer.json")
        try Data(json.utf8).write(to: file)
        return try HFTokenizer(file: file)
    }

    static func referenceError(_ catalog: Endpoint.Catalog, model: String, reference: String) -> APIError? {
        let request = ScoringRequest(rows: .sequences([[1, 2, 3]]))
        do {
            _ = try catalog.reference(reference, for: catalog.named(model, param: "model"), request: request)
            return nil
        } catch {
            return error
        }
    }

    @Test("the catalog picks the body's model (default the first); an unknown one is a 404 naming the served ones")
    func modelChoice() throws {
        let catalog = Endpoint.Catalog(models: [Self.context("a"), Self.context("b")])
        #expect(try catalog.model(for: Data(#"{"sequences": [[1]]}"#.utf8)).modelName == "a")
        #expect(try catalog.model(for: Data(#"{"sequences": [[1]], "model": "b"}"#.utf8)).modelName == "b")
        #expect(try catalog.model(for: Data("not json".utf8)).modelName == "a")
        do {
            _ = try catalog.model(for: Data(#"{"model": "c"}"#.utf8))
            Issue.record("an unknown model was accepted")
        } catch {
            #expect(error.status == 404 && error.code == "model_not_found" && error.param == "model")
            #expect(error.message.contains("`a`") && error.message.contains("`b`"))
        }
        // Through an endpoint: /score with model "b" decodes against b's config; with one model, a wrong name is a 404.
        let single = try Endpoint.score.decode(Data(#"{"sequences": [[1, 2]], "model": "b"}"#.utf8), catalog: catalog)
        #expect(single.model == "b" && single.reference == nil)
        do {
            _ = try Endpoint.score.decode(Data(#"{"sequences": [[1, 2]], "model": "z"}"#.utf8), context: Self.context("a"))
            Issue.record("a wrong model name was accepted")
        } catch {
            #expect(error.status == 404 && error.param == "model")
        }
    }

    @Test("a reference: unknown 404, itself 422, another vocabulary or a shorter context 422, another tokenizer 422 naming the first difference")
    func referenceChecks() throws {
        var small = tinyConfig
        small.vocabSize = 500
        var short = tinyConfig
        short.nPositions = 32
        let abc = try Self.tokenizer(["a", "b", "c"]), abx = try Self.tokenizer(["a", "x", "c"]), abcd = try Self.tokenizer(["a", "b", "c", "d"])
        let catalog = Endpoint.Catalog(models: [
            Self.context("a"), Self.context("b"), Self.context("small", config: small), Self.context("short", config: short),
            Self.context("abc", tokenizer: abc), Self.context("abx", tokenizer: abx), Self.context("abc2", tokenizer: try Self.tokenizer(["a", "b", "c"])),
            Self.context("abcd", tokenizer: abcd),
        ])
        #expect(Self.referenceError(catalog, model: "a", reference: "b") == nil)
        #expect(Self.referenceError(catalog, model: "abc", reference: "abc2") == nil)
        #expect(Self.referenceError(catalog, model: "short", reference: "a") == nil)   // a longer reference context is fine
        func check(_ model: String, _ reference: String, status: Int, code: String, mentions: [String]) {
            guard let error = Self.referenceError(catalog, model: model, reference: reference) else {
                Issue.record("\(model) vs \(reference) accepted")
                return
            }
            #expect(error.status == status && error.code == code && error.param == "reference", "\(error)")
            for text in mentions { #expect(error.message.contains(text), "\(error.message) lacks \(text)") }
        }
        check("a", "nope", status: 404, code: "model_not_found", mentions: ["nope"])
        check("a", "a", status: 422, code: "invalid_value", mentions: ["another model"])
        check("a", "small", status: 422, code: "invalid_value", mentions: ["1000", "500"])
        check("a", "short", status: 422, code: "invalid_value", mentions: ["32", "64"])
        check("abc", "abx", status: 422, code: "tokenizer_mismatch", mentions: ["token 1", "\"b\" in the model", "\"x\" in the reference"])
        check("abx", "abc", status: 422, code: "tokenizer_mismatch", mentions: ["\"x\" in the model", "\"b\" in the reference"])
        check("a", "abc", status: 422, code: "tokenizer_mismatch", mentions: ["the model has no tokenizer"])
        check("abc", "abcd", status: 422, code: "tokenizer_mismatch", mentions: ["3 tokens", "4"])
    }
}
