import Foundation
import LMScoreAPI
import LMScoreEngine
import Testing

/// One request body that must be refused, and how.
struct RejectedRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let body: String
    let status: Int
    let param: String?
    /// Checked when given.
    let code: String?

    init(_ name: String, _ body: String, status: Int = 422, param: String?, code: String? = nil) {
        self.name = name
        self.body = body
        self.status = status
        self.param = param
        self.code = code
    }

    var testDescription: String { name }
}

/// Row 3 holds 20 tokens with an out-of-range id (= vocab) at position 17.
private let outOfRangeAt3x17: String = {
    var rows = (0..<4).map { tokenRow(5 + $0, seed: UInt64($0)) }
    rows[3] = tokenRow(20, seed: 3)
    rows[3][17] = Int32(tinyConfig.vocabSize)
    return #"{"sequences": \#(jsonRows(rows))}"#
}()

private let tooLongInputs: String = {
    let row = tokenRow(tinyConfig.nPositions + 1, seed: 5)
    return #"{"inputs": \#(jsonRows([row])), "targets": \#(jsonRows([row]))}"#
}()

private let rejected: [RejectedRequest] = [
    // Not JSON / not an object / unknown fields.
    RejectedRequest("truncated JSON", #"{"sequences": [[1,2]"#, status: 400, param: nil, code: "malformed_json"),
    RejectedRequest("empty body", "", status: 400, param: nil, code: "malformed_json"),
    RejectedRequest("trailing garbage", #"{"sequences": [[1,2]]} x"#, status: 400, param: nil, code: "malformed_json"),
    RejectedRequest("array body", "[[1,2]]", param: nil, code: "invalid_type"),
    RejectedRequest("number body", "42", param: nil),
    RejectedRequest("string body", #""hello""#, param: nil),
    RejectedRequest("null body", "null", param: nil),
    RejectedRequest("unknown field", #"{"sequences": [[1,2]], "temperature": 1}"#, param: "temperature", code: "unknown_field"),
    RejectedRequest("unknown field, no rows", #"{"prompt": "hi"}"#, param: "prompt", code: "unknown_field"),
    RejectedRequest("unknown field inside window", #"{"sequences": [[1,2]], "window": {"stride": 8, "size": 16}}"#,
                    param: "window.size"),

    // Which form.
    RejectedRequest("sequences and inputs/targets", #"{"sequences": [[1,2]], "inputs": [[1]], "targets": [[2]]}"#,
                    param: "sequences"),
    RejectedRequest("sequences and inputs", #"{"sequences": [[1,2]], "inputs": [[1]]}"#, param: "sequences"),
    RejectedRequest("sequences and targets", #"{"sequences": [[1,2]], "targets": [[2]]}"#, param: "targets"),
    RejectedRequest("neither form", #"{}"#, param: "sequences", code: "missing_field"),
    RejectedRequest("neither form, options only", #"{"top_k": 3}"#, param: "sequences", code: "missing_field"),
    RejectedRequest("sequences and choices", #"{"sequences": [[1,2]], "choices": [{"context": [1], "continuations": [[2]]}]}"#,
                    param: "sequences"),
    RejectedRequest("choices and targets", #"{"choices": [{"context": [1], "continuations": [[2]]}], "targets": [[2]]}"#,
                    param: "targets"),
    RejectedRequest("inputs without targets", #"{"inputs": [[1,2]]}"#, param: "targets", code: "missing_field"),
    RejectedRequest("targets without inputs", #"{"targets": [[1,2]]}"#, param: "inputs", code: "missing_field"),

    // Rows.
    RejectedRequest("empty sequences list", #"{"sequences": []}"#, param: "sequences"),
    RejectedRequest("empty row", #"{"sequences": [[1,2], [], [3]]}"#, param: "sequences[1]"),
    RejectedRequest("empty inputs list", #"{"inputs": [], "targets": []}"#, param: "inputs"),
    RejectedRequest("empty inputs row", #"{"inputs": [[1], []], "targets": [[2], []]}"#, param: "inputs[1]"),
    RejectedRequest("id out of range at row 3 position 17", outOfRangeAt3x17, param: "sequences[3][17]"),
    RejectedRequest("id = vocab_size", #"{"sequences": [[1,1000]]}"#, param: "sequences[0][1]"),
    RejectedRequest("negative id", #"{"sequences": [[1,2,-1]]}"#, param: "sequences[0][2]"),
    RejectedRequest("-100 in sequences", #"{"sequences": [[1,-100]]}"#, param: "sequences[0][1]"),
    RejectedRequest("-100 in inputs", #"{"inputs": [[1,-100,3]], "targets": [[2,3,4]]}"#, param: "inputs[0][1]"),
    RejectedRequest("negative target other than -100", #"{"inputs": [[1,2,3]], "targets": [[2,-1,4]]}"#, param: "targets[0][1]"),
    RejectedRequest("target out of range", #"{"inputs": [[1,2,3]], "targets": [[2,3,1000]]}"#, param: "targets[0][2]"),
    RejectedRequest("row count mismatch", #"{"inputs": [[1,2],[3,4]], "targets": [[2,3]]}"#, param: "targets"),
    RejectedRequest("row length mismatch", #"{"inputs": [[1,2],[3,4]], "targets": [[2,3],[4]]}"#, param: "targets[1]"),
    RejectedRequest("inputs row longer than n_positions", tooLongInputs, param: "inputs[0]", code: "context_length_exceeded"),
    RejectedRequest("window with inputs/targets", #"{"inputs": [[1,2]], "targets": [[2,3]], "window": {"stride": 4}}"#,
                    param: "window"),

    // Choices.
    RejectedRequest("empty choices", #"{"choices": []}"#, param: "choices"),
    RejectedRequest("choices not an array", #"{"choices": {"context": [1]}}"#, param: "choices", code: "invalid_type"),
    RejectedRequest("choice not an object", #"{"choices": [[1, 2]]}"#, param: "choices[0]", code: "invalid_type"),
    RejectedRequest("choice without context", #"{"choices": [{"continuations": [[2]]}]}"#, param: "choices[0].context",
                    code: "missing_field"),
    RejectedRequest("choice without continuations", #"{"choices": [{"context": [1]}]}"#, param: "choices[0].continuations",
                    code: "missing_field"),
    RejectedRequest("unknown field in a choice", #"{"choices": [{"context": [1], "continuations": [[2]], "gold": 0}]}"#,
                    param: "choices[0].gold", code: "unknown_field"),
    RejectedRequest("empty context", #"{"choices": [{"context": [], "continuations": [[2]]}]}"#, param: "choices[0].context"),
    RejectedRequest("no continuations", #"{"choices": [{"context": [1], "continuations": []}]}"#, param: "choices[0].continuations"),
    RejectedRequest("empty continuation", #"{"choices": [{"context": [1], "continuations": [[2], []]}]}"#,
                    param: "choices[0].continuations[1]"),
    RejectedRequest("continuation id out of range", #"{"choices": [{"context": [1], "continuations": [[2]]}, {"context": [1], "continuations": [[3, 1000]]}]}"#,
                    param: "choices[1].continuations[0][1]"),
    RejectedRequest("string id in context", #"{"choices": [{"context": [1, "a"], "continuations": [[2]]}]}"#,
                    param: "choices[0].context[1]", code: "invalid_type"),
    RejectedRequest("context + continuation longer than n_positions",
                    #"{"choices": [{"context": \#(jsonRows([tokenRow(60, seed: 1)]).dropFirst().dropLast()), "continuations": [[1,2,3,4,5]]}]}"#,
                    param: "choices[0].continuations[0]", code: "context_length_exceeded"),
    RejectedRequest("window with choices", #"{"choices": [{"context": [1], "continuations": [[2]]}], "window": {"stride": 4}}"#,
                    param: "window"),

    // Options.
    RejectedRequest("top_k -1", #"{"sequences": [[1,2]], "top_k": -1}"#, param: "top_k"),
    RejectedRequest("top_k 21", #"{"sequences": [[1,2]], "top_k": 21}"#, param: "top_k"),
    RejectedRequest("stride 0", #"{"sequences": [[1,2]], "window": {"stride": 0}}"#, param: "window.stride"),
    RejectedRequest("stride n_positions + 1", #"{"sequences": [[1,2]], "window": {"stride": 65}}"#, param: "window.stride"),
    RejectedRequest("negative stride", #"{"sequences": [[1,2]], "window": {"stride": -3}}"#, param: "window.stride"),

    // Wrong JSON types.
    RejectedRequest("string id", #"{"sequences": [[1,"2",3]]}"#, param: "sequences[0][1]", code: "invalid_type"),
    RejectedRequest("float id", #"{"sequences": [[1,1.5]]}"#, param: "sequences[0][1]"),
    RejectedRequest("id 1e10", #"{"sequences": [[1,1e10]]}"#, param: "sequences[0][1]"),
    RejectedRequest("id 2^31", #"{"sequences": [[1,2,2147483648]]}"#, param: "sequences[0][2]"),
    RejectedRequest("bool id", #"{"sequences": [[1,true]]}"#, param: "sequences[0][1]"),
    RejectedRequest("string id in targets", #"{"inputs": [[1,2]], "targets": [[2,"x"]]}"#, param: "targets[0][1]"),
    RejectedRequest("top_k as string", #"{"sequences": [[1,2]], "top_k": "3"}"#, param: "top_k", code: "invalid_type"),
    RejectedRequest("top_k 2.5", #"{"sequences": [[1,2]], "top_k": 2.5}"#, param: "top_k"),
    RejectedRequest("probabilities 1", #"{"sequences": [[1,2]], "probabilities": 1}"#, param: "probabilities", code: "invalid_type"),
    RejectedRequest("probabilities as string", #"{"sequences": [[1,2]], "probabilities": "true"}"#, param: "probabilities"),
    RejectedRequest("null row", #"{"sequences": [[1,2], null]}"#, param: "sequences[1]", code: "invalid_type"),
    RejectedRequest("null id", #"{"sequences": [[1,null]]}"#, param: "sequences[0][1]", code: "invalid_type"),
    RejectedRequest("row not an array", #"{"sequences": [[1,2], 3]}"#, param: "sequences[1]", code: "invalid_type"),
    RejectedRequest("sequences not an array", #"{"sequences": "1 2 3"}"#, param: "sequences", code: "invalid_type"),
    RejectedRequest("flat sequences", #"{"sequences": [1,2,3]}"#, param: "sequences[0]", code: "invalid_type"),
    RejectedRequest("window not an object", #"{"sequences": [[1,2]], "window": 8}"#, param: "window", code: "invalid_type"),
    RejectedRequest("stride as string", #"{"sequences": [[1,2]], "window": {"stride": "8"}}"#, param: "window.stride",
                    code: "invalid_type"),
]

@Suite("Request validation: status, param and error body")
struct RequestValidationTests {
    @Test("rejected requests", arguments: rejected)
    func rejectedRequest(_ case_: RejectedRequest) throws {
        let error = try #require(decodeError(case_.body), "\(case_.name): decoded without error")
        #expect(error.status == case_.status, "\(case_.name): \(error)")
        #expect(error.param == case_.param, "\(case_.name): \(error)")
        #expect(error.type == "invalid_request_error")
        if let code = case_.code { #expect(error.code == code, "\(case_.name): \(error)") }
        #expect(!error.message.isEmpty)
        try checkBody(error)
    }

    /// `{"error": {"message", "type", "param", "code"}}`: exactly these four keys, param null when absent.
    func checkBody(_ error: APIError, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let object = try JSONSerialization.jsonObject(with: error.jsonBody)
        let top = try #require(object as? [String: Any], sourceLocation: sourceLocation)
        #expect(Set(top.keys) == ["error"], sourceLocation: sourceLocation)
        let inner = try #require(top["error"] as? [String: Any], sourceLocation: sourceLocation)
        #expect(Set(inner.keys) == ["message", "type", "param", "code"], sourceLocation: sourceLocation)
        #expect(inner["message"] as? String == error.message, sourceLocation: sourceLocation)
        #expect(inner["type"] as? String == error.type, sourceLocation: sourceLocation)
        #expect(inner["code"] as? String == error.code, sourceLocation: sourceLocation)
        if let param = error.param {
            #expect(inner["param"] as? String == param, sourceLocation: sourceLocation)
        } else {
            #expect(inner["param"] is NSNull, "param must be JSON null when absent", sourceLocation: sourceLocation)
        }
    }

    @Test("malformed JSON: 400 malformed_json with param null in the body")
    func malformedBody() throws {
        let error = try #require(decodeError(#"{"sequences": [[1,2]"#))
        #expect(error.status == 400)
        #expect(error.code == "malformed_json")
        let text = String(decoding: error.jsonBody, as: UTF8.self)
        #expect(text.contains(#""param":null"#), "\(text)")
    }

    @Test("the reported param is the first offending value in request order")
    func firstOffenderWins() {
        let error = decodeError(#"{"sequences": [[1,2],[3,1000,-5],[1001]]}"#)
        #expect(error?.param == "sequences[1][1]")
    }

    @Test("accepted edge values", arguments: [
        #"{"sequences": [[0, 999]]}"#,
        #"{"sequences": [[5]]}"#,
        #"{"sequences": [[1,2]], "top_k": 0}"#,
        #"{"sequences": [[1,2]], "top_k": 20}"#,
        #"{"sequences": [[1,2]], "window": {"stride": 1}}"#,
        #"{"sequences": [[1,2]], "window": {"stride": 64}}"#,
        #"{"sequences": [[1,2]], "window": {}}"#,
        #"{"sequences": [[1,2]], "probabilities": false, "top_k": null}"#,
        #"{"inputs": [[1,2,3]], "targets": [[-100,-100,-100]]}"#,
        #"{"inputs": [[1,2,3]], "targets": [[2,-100,999]]}"#,
    ])
    func accepted(_ body: String) {
        #expect(decodeError(body) == nil, "\(String(describing: decodeError(body)))")
    }

    @Test("an inputs row of exactly n_positions tokens is accepted")
    func inputsAtContext() {
        let row = tokenRow(tinyConfig.nPositions, seed: 9)
        #expect(decodeError(#"{"inputs": \#(jsonRows([row])), "targets": \#(jsonRows([row]))}"#) == nil)
    }

    @Test("a sequence longer than n_positions is accepted (sliding window)")
    func longSequence() {
        let row = tokenRow(3 * tinyConfig.nPositions, seed: 9)
        #expect(decodeError(#"{"sequences": \#(jsonRows([row]))}"#) == nil)
    }

    @Test("decoded values reach the engine request unchanged")
    func decodedValues() throws {
        let call = try ScoreCall.decode(
            Data(#"{"sequences": [[1,2,3],[4]], "top_k": 7, "probabilities": true, "window": {"stride": 9}}"#.utf8),
            config: tinyConfig)
        #expect(call.request == ScoringRequest(rows: .sequences([[1, 2, 3], [4]]), topK: 7, stride: 9))
        #expect(call.includeProbabilities)

        let pair = try ScoreCall.decode(Data(#"{"inputs": [[1,2]], "targets": [[2,-100]]}"#.utf8), config: tinyConfig)
        #expect(pair.request == ScoringRequest(rows: .inputsTargets(inputs: [[1, 2]], targets: [[2, -100]])))
        #expect(!pair.includeProbabilities)
    }

    @Test("a number whose value is an integer is that integer (JSON Schema's integer): 2.0, 2e0, -100.0, -0.0")
    func integralNumbers() throws {
        let written = try ScoreCall.decode(
            Data(#"{"inputs": [[1.0, 2e0, 3E+0, -0.0]], "targets": [[2, -100.0, 1.0e2, 5]], "top_k": 1.0}"#.utf8),
            config: tinyConfig)
        #expect(written.request == ScoringRequest(rows: .inputsTargets(inputs: [[1, 2, 3, 0]], targets: [[2, -100, 100, 5]]), topK: 1))
        let windowed = try ScoreCall.decode(Data(#"{"sequences": [[1, 2]], "window": {"stride": 2e0}}"#.utf8), config: tinyConfig)
        #expect(windowed.request.stride == 2)
    }

    @Test("validation uses the given model's vocabulary and context")
    func usesConfig() {
        var small = tinyConfig
        small.vocabSize = 10
        small.nPositions = 4
        #expect(decodeError(#"{"sequences": [[9, 10]]}"#, config: small)?.param == "sequences[0][1]")
        #expect(decodeError(#"{"inputs": [[1,2,3,4,5]], "targets": [[1,2,3,4,5]]}"#, config: small)?.param == "inputs[0]")
        #expect(decodeError(#"{"sequences": [[1]], "window": {"stride": 5}}"#, config: small)?.param == "window.stride")
        #expect(decodeError(#"{"sequences": [[1,2,3,4,5,6,7,8,9]]}"#, config: small) == nil)
    }

    @Test("APIError(ValidationError) keeps the parameter and message")
    func fromValidationError() throws {
        let error = APIError(ValidationError(parameter: "sequences[0][3]", message: "bad id"))
        #expect(error.status == 422)
        #expect(error.param == "sequences[0][3]")
        #expect(error.message == "bad id")
        try checkBody(error)
    }
}
