import Foundation
import LMScoreTestSupport
import LMScoreEngine
import Testing

@Suite("lmscore perplexity")
struct PerplexityCommandTests {
    static let length = 300
    static let stride = 16

    /// perplexity's text output: `key:   value` per line.
    func textFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    @Test("a 300-token stream with stride 16 (text and --json) equals the engine's sliding window")
    func stream() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("model")
        let config = try writeTinyCheckpoint(to: directory, seed: 9)
        let ids = tokenRow(Self.length, seed: 31)
        // Mixed separators: newlines, spaces and commas are all accepted.
        let text = ids.enumerated().map { $0.offset % 10 == 9 ? "\($0.element)\n" : "\($0.element)," }.joined()
        let tokens = try temp.write("tokens.txt", text)

        let scorer = Scorer(model: try Checkpoint.load(directory: directory))
        let engine = try scorer.score(ScoringRequest(rows: .sequences([ids]), stride: Self.stride)).rows[0]
        let engineLoss = try #require(engine.loss)
        let windows = hfWindowCount(length: Self.length, context: config.nPositions, stride: Self.stride)
        #expect(windows == 16)

        let json = try lmscore(["perplexity", "--model", directory.path, "--tokens", tokens, "--stride", "\(Self.stride)", "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try json.json()
        #expect(object["tokens"] as? Int == Self.length)
        #expect(object["scored_tokens"] as? Int == Self.length - 1)
        #expect(object["windows"] as? Int == windows)
        #expect(object["stride"] as? Int == Self.stride)
        let loss = try #require(number(object["loss"]))
        let perplexity = try #require(number(object["perplexity"]))
        #expect(abs(perplexity - exp(loss)) <= 1e-12 * perplexity)
        #expect(abs(loss - engineLoss) <= 1e-9, "CLI \(loss) vs engine \(engineLoss)")
        #expect(engine.scoredTokens == Self.length - 1)
        #expect(engine.windows == windows)

        let plain = try lmscore(["perplexity", "--model", directory.path, "--tokens", tokens, "--stride", "\(Self.stride)"])
        #expect(plain.status == 0, "\(plain)")
        let fields = textFields(plain.out)
        #expect(fields["tokens"] == "\(Self.length)", "\(plain)")
        #expect(fields["scored tokens"] == "\(Self.length - 1)", "\(plain)")
        #expect(fields["windows"]?.hasPrefix("\(windows) ") == true, "\(plain)")
        let textLoss = try #require(fields["loss"].flatMap(Double.init), "\(plain)")
        let textPerplexity = try #require(fields["perplexity"].flatMap(Double.init), "\(plain)")
        #expect(abs(textLoss - engineLoss) <= 1e-9)
        #expect(abs(textPerplexity - exp(textLoss)) <= 1e-12 * textPerplexity)
    }

    @Test("tokens from stdin; default stride is n_positions / 2")
    func stdinDefaultStride() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.file("model")
        let config = try writeTinyCheckpoint(to: directory, seed: 9)
        let ids = tokenRow(150, seed: 32)
        let result = try lmscore(["perplexity", "--model", directory.path, "--tokens", "-", "--json"],
                                 stdin: Data(ids.map(String.init).joined(separator: " ").utf8))
        #expect(result.status == 0, "\(result)")
        let object = try result.json()
        #expect(object["scored_tokens"] as? Int == 149)
        #expect(object["stride"] as? Int == config.nPositions / 2)
        #expect(object["windows"] as? Int == hfWindowCount(length: 150, context: config.nPositions, stride: config.nPositions / 2))
        let scorer = Scorer(model: try Checkpoint.load(directory: directory))
        let engine = try scorer.score(ScoringRequest(rows: .sequences([ids]))).rows[0]
        #expect(abs((number(object["loss"]) ?? .nan) - engine.loss!) <= 1e-9)
    }

    @Test("a bad token file: non-zero exit, one line on stderr naming the file", arguments: [
        "1 2 three 4", "1 2 1000 4", "5 -1 6", "", "1 2.5 3",
    ])
    func badTokens(_ contents: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let tokens = try temp.write("tokens.txt", contents)
        let result = try lmscore(["perplexity", "--model", temp.file("model").path, "--tokens", tokens])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains(tokens), "\(result)")
        #expect(result.out.isEmpty, "\(result)")
    }

    @Test("a missing token file: non-zero exit, one line naming it")
    func missingTokens() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let missing = temp.file("absent.txt").path
        let result = try lmscore(["perplexity", "--model", temp.file("model").path, "--tokens", missing])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains(missing), "\(result)")
    }

    @Test("a stride out of range: non-zero exit, one line", arguments: ["0", "65"])
    func badStride(_ stride: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let tokens = try temp.write("tokens.txt", "1 2 3 4 5")
        let result = try lmscore(["perplexity", "--model", temp.file("model").path, "--tokens", tokens, "--stride", stride])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains("stride"), "\(result)")
    }
}
