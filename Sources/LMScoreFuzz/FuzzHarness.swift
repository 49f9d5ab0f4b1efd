import Foundation
import LMScoreAPI
import LMScoreEngine
import LMScoreTokenizer

/// Feeds one input to every request decoder and to the tokenizer, and checks what must hold for any
/// input: a decoder either decodes or throws an `APIError` that is a 400 or a 422 (a 404 only for a
/// completions `model` naming another model) with a code, a message and a JSON body; whatever decodes
/// is answered (scored, when small enough to be cheap, and encoded); the tokenizer round-trips any
/// text byte for byte. A broken property stops the process (`fatalError`), which libFuzzer reports as
/// a crash and saves the input of.
///
/// Made once per process: a random `tiny` model (vocabulary 1,000, 64 positions) written to a temporary
/// directory and mapped, and the bundled model (`Models/lmscore-gpt2-small-en`: GPT-2's 50,257-token
/// vocabulary, 256 positions) with its tokenizer. `LMSCORE_FUZZ_MODEL` points at another GPT-2-vocabulary
/// model directory holding `gpt2.tiktoken`.
final class FuzzHarness: @unchecked Sendable {
    static let shared = FuzzHarness()

    /// Requests with more tokens (rows) than this are decoded but not scored, which keeps an execution
    /// in milliseconds: the bundled model's LM head costs 6.4M multiply-adds per scored token.
    static let maxScoredTokens = (tiny: 128, gpt2: 24)
    static let maxScoredRows = 8

    let tinyScorer: Scorer
    let gpt2Scorer: Scorer
    let tokenizer: GPT2Tokenizer
    /// The reference tokenizer.json files (../shared/reference, when it is there): SentencePiece-style
    /// (llama-gqa), byte-level with a regex Split and NFC (qwen2), byte-level GPT-2 style (neox).
    let hfTokenizers: [(name: String, tokenizer: HFTokenizer)]
    let gpt2Name = "lmscore-gpt2-small-en"
    let tinyName = "tiny"

    private init() {
        ComputeThreads.set(1)
        do {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-fuzz-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            var options = RandomCheckpoint.Options()
            options.seed = 7
            try RandomCheckpoint.write(config: RandomCheckpoint.Preset.tiny.config, options: options, to: directory)
            tinyScorer = Scorer(model: try Checkpoint.load(directory: directory), maxTokensPerForward: 256)

            let modelDirectory = Self.bundledModelDirectory()
            gpt2Scorer = Scorer(model: try Checkpoint.load(directory: modelDirectory), maxTokensPerForward: 256)
            tokenizer = try GPT2Tokenizer(ranksFile: modelDirectory.appendingPathComponent(GPT2Tokenizer.ranksFileName))
            hfTokenizers = try Self.referenceTokenizers()
        } catch {
            fatalError("LMScoreFuzz setup: \(error)")
        }
    }

    static func bundledModelDirectory() -> URL {
        if let path = ProcessInfo.processInfo.environment["LMSCORE_FUZZ_MODEL"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        // Sources/LMScoreFuzz/FuzzHarness.swift → the repository root.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models/lmscore-gpt2-small-en")
    }

    /// `../shared/reference/*/tokenizer.json` beside the repository (LMSCORE_SHARED_REFERENCE overrides);
    /// none when absent.
    static func referenceTokenizers() throws -> [(name: String, tokenizer: HFTokenizer)] {
        let reference = ProcessInfo.processInfo.environment["LMSCORE_SHARED_REFERENCE"].map { URL(fileURLWithPath: $0) }
            ?? bundledModelDirectory().deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("shared/reference")
        return try ["llama-gqa", "qwen2-bias-bf16", "neox-pythia-f16"].compactMap { name in
            let file = reference.appendingPathComponent("\(name)/tokenizer.json")
            guard FileManager.default.fileExists(atPath: file.path) else { return nil }
            return (name, try HFTokenizer(file: file))
        }
    }

    /// One input through everything.
    func run(_ data: Data) {
        score(data, scorer: tinyScorer, model: tinyName, tokenizer: nil)
        score(data, scorer: gpt2Scorer, model: gpt2Name, tokenizer: tokenizer)
        completions(data, scorer: tinyScorer, model: tinyName, tokenizer: nil)
        completions(data, scorer: gpt2Scorer, model: gpt2Name, tokenizer: tokenizer)
        tokenize(data)
        detokenize(data)
        tokenizerRoundTrip(String(decoding: data, as: UTF8.self))
        hfTokenizerRoundTrip(String(decoding: data, as: UTF8.self))
        decodeIDs(data)
        batchLine(data)
    }

    /// A batch input line: its envelope, then its body through the endpoint's decoder (no scoring);
    /// whatever happens, the output line written for it is one JSON object.
    func batchLine(_ data: Data) {
        let output: Data
        do {
            let line = try BatchInputLine.parse(data)
            let context = Endpoint.Context(modelName: gpt2Name, config: gpt2Scorer.config, tokenizer: tokenizer)
            do {
                let call = try line.endpoint.decode(line.body, context: context)
                output = BatchOutputLine.response(line: 1, customID: line.customID, status: 200,
                                                  body: call.scoring == nil ? call.responseBody(nil) : Data("{}".utf8))
            } catch {
                check(error, "batch line body", allowModelNotFound: true)
                output = BatchOutputLine.response(line: 1, customID: line.customID, status: error.status, body: error.jsonBody)
            }
        } catch {
            output = BatchOutputLine.failure(line: 1, error: error)
        }
        expect(output.last == UInt8(ascii: "\n") && output.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") }, "batch output line is not one line")
        expectJSONObject(output.dropLast(), "batch output line")
    }

    func maxScoredTokens(_ scorer: Scorer) -> Int {
        scorer === tinyScorer ? Self.maxScoredTokens.tiny : Self.maxScoredTokens.gpt2
    }

    // MARK: - Endpoints

    func score(_ data: Data, scorer: Scorer, model: String, tokenizer: GPT2Tokenizer?) {
        let call: ScoreCall
        do {
            call = try ScoreCall.decode(data, config: scorer.config, tokenizer: tokenizer)
        } catch {
            check(error, "ScoreCall.decode(\(model))")
            return
        }
        let request = call.request
        expect(request.rowCount > 0, "ScoreCall(\(model)): decoded a request without rows")
        if case .sequences(let rows) = request.rows {
            expect(rows.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= 0 && Int($0) < scorer.config.vocabSize } },
                   "ScoreCall(\(model)): decoded an empty row or an id out of range")
        }
        guard request.tokenCount <= maxScoredTokens(scorer), request.rowCount <= Self.maxScoredRows else { return }
        let result = scorer.score(batch: [request])[0]
        expect(result.rows.count == request.rowCount, "ScoreCall(\(model)): \(result.rows.count) result rows for \(request.rowCount)")
        let body = ScoreResponse(model: model, result: result, call: call, tokenizer: tokenizer).jsonData()
        expectJSONObject(body, "ScoreResponse(\(model))")
    }

    func completions(_ data: Data, scorer: Scorer, model: String, tokenizer: GPT2Tokenizer?) {
        let call: CompletionsCall
        do {
            call = try CompletionsCall.decode(data, config: scorer.config, modelName: model, tokenizer: tokenizer)
        } catch {
            check(error, "CompletionsCall.decode(\(model))", allowModelNotFound: true)
            return
        }
        expect(!call.prompts.isEmpty && call.prompts.count == call.promptTexts.count,
               "CompletionsCall(\(model)): \(call.prompts.count) prompts, \(call.promptTexts.count) texts")
        let request = call.request
        guard request.tokenCount <= maxScoredTokens(scorer), request.rowCount <= Self.maxScoredRows else { return }
        do {
            let result = try scorer.score(request)
            // The tiny model's ids (< 1,000) are GPT-2 ids too: render them with GPT-2's tokenizer.
            let body = CompletionsResponse(call: call, result: result, model: model, tokenizer: tokenizer ?? self.tokenizer).jsonData()
            expectJSONObject(body, "CompletionsResponse(\(model))")
        } catch {
            fatalError("CompletionsCall(\(model)): a decoded request fails validation: \(error)")
        }
    }

    func tokenize(_ data: Data) {
        do {
            let call = try TokenizeCall.decode(data)
            expectJSONObject(try call.respond(tokenizer: tokenizer), "TokenizeCall.respond")
        } catch {
            check(error, "TokenizeCall.decode")
        }
    }

    func detokenize(_ data: Data) {
        do {
            let call = try DetokenizeCall.decode(data, vocabSize: tokenizer.vocabularySize)
            expectJSONObject(try call.respond(tokenizer: tokenizer), "DetokenizeCall.respond")
        } catch {
            check(error, "DetokenizeCall")
        }
    }

    // MARK: - Tokenizer

    /// Any text encodes to ids that decode to exactly its bytes, with offsets where each token's bytes start.
    func tokenizerRoundTrip(_ text: String) {
        let bytes = Array(text.utf8)
        for allowSpecial in [true, false] {
            let ids = tokenizer.encode(text, allowSpecial: allowSpecial)
            expect(bytes.isEmpty == ids.isEmpty, "encode: \(ids.count) ids for \(bytes.count) bytes")
            for id in ids {
                expect(id >= 0 && Int(id) < tokenizer.vocabularySize, "encode: id \(id) out of range")
                if !allowSpecial { expect(id != GPT2Tokenizer.endOfText, "encode_ordinary produced <|endoftext|>") }
            }
            guard let decoded = try? tokenizer.decodeBytes(ids) else { fatalError("decodeBytes refused encode's ids") }
            expect(decoded == bytes, "encode → decode changed the bytes (allowSpecial \(allowSpecial))")

            let (sameIDs, byteOffsets) = tokenizer.encodeWithByteOffsets(text, allowSpecial: allowSpecial)
            expect(sameIDs == ids, "encodeWithByteOffsets: other ids than encode")
            var offset = 0
            for (id, start) in zip(ids, byteOffsets) {
                expect(start == offset, "encodeWithByteOffsets: token starts at \(start), expected \(offset)")
                offset += tokenizer.tokenBytes(id)?.count ?? 0
            }
            do {
                let (decodedText, offsets) = try tokenizer.decodeWithOffsets(ids)
                expect(Array(decodedText.utf8) == bytes, "decodeWithOffsets changed the text")
                expect(offsets.count == ids.count && zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 },
                       "decodeWithOffsets: offsets not one per token, non-decreasing")
            } catch {
                fatalError("decodeWithOffsets refused the ids of valid text: \(error)")
            }
        }
    }

    /// Any text through each tokenizer.json: ids in range, one byte offset per id, in order and inside
    /// the text, and a decode that accepts them; without a normalizer (neox) the bytes come back exactly.
    func hfTokenizerRoundTrip(_ text: String) {
        let count = text.utf8.count
        for (name, tokenizer) in hfTokenizers {
            for allowSpecial in [true, false] {
                let (ids, offsets) = tokenizer.encodeWithByteOffsets(text, allowSpecial: allowSpecial)
                expect(ids.count == offsets.count, "\(name): \(ids.count) ids, \(offsets.count) offsets")
                expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize }, "\(name): id out of range")
                expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 } && offsets.allSatisfy { $0 >= 0 && $0 < max(count, 1) },
                       "\(name): offsets not in order inside the text")
                guard let decoded = try? tokenizer.decode(ids) else { fatalError("\(name): decode refused encode's ids") }
                if name == "neox-pythia-f16" { expect(Array(decoded.utf8) == Array(text.utf8), "\(name): encode → decode changed the text") }
            }
        }
    }

    /// Arbitrary ids (two bytes each, some negative, some past the vocabulary) decode or fail with a
    /// position inside the list.
    func decodeIDs(_ data: Data) {
        var ids: [Int32] = []
        var iterator = data.makeIterator()
        while let low = iterator.next(), let high = iterator.next() {
            let value = Int32(UInt16(high) << 8 | UInt16(low))
            ids.append(value >= 60000 ? value - 60100 : value % 50300)   // -100 … -5636, 0 … 50299
        }
        do {
            let text = try tokenizer.decode(ids)
            expect(ids.isEmpty == text.isEmpty, "decode: text emptiness differs from the ids'")
        } catch {
            guard case .unknownTokenID(let id, let position) = error, ids.indices.contains(position), ids[position] == id else {
                fatalError("decode: unexpected error \(error) for \(ids)")
            }
        }
        do {
            let (_, offsets) = try tokenizer.decodeWithOffsets(ids)
            expect(offsets.count == ids.count, "decodeWithOffsets: \(offsets.count) offsets for \(ids.count) ids")
        } catch {
            switch error {
            case .unknownTokenID(_, let position), .invalidUTF8(let position):
                expect(ids.indices.contains(position), "decodeWithOffsets: position \(position) outside \(ids.count) ids")
            default:
                fatalError("decodeWithOffsets: unexpected error \(error)")
            }
        }
        // The same ids as a /detokenize body.
        detokenize(Data(#"{"tokens": [\#(ids.map(String.init).joined(separator: ","))]}"#.utf8))
    }

    // MARK: - Properties

    /// What every refusal must look like.
    func check(_ error: APIError, _ what: String, allowModelNotFound: Bool = false) {
        switch error.status {
        case 400: expect(error.code == "malformed_json", "\(what): 400 with code \(error.code)")
        case 422: expect(error.code != "malformed_json", "\(what): 422 with code malformed_json")
        case 404 where allowModelNotFound: expect(error.code == "model_not_found", "\(what): 404 with code \(error.code)")
        default: fatalError("\(what): status \(error.status) (\(error.code): \(error.message)); bad input must be a 400 or a 422")
        }
        expect(!error.code.isEmpty && !error.message.isEmpty && error.type == "invalid_request_error",
               "\(what): incomplete error \(error)")
        expectJSONObject(error.jsonBody, "\(what): error body")
    }

    func expectJSONObject(_ data: Data, _ what: @autoclosure () -> String) {
        guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            fatalError("\(what()): not a JSON object: \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError(message()) }
    }
}
