import Foundation
import LMScoreAPI
@testable import LMScoreBatch
import Testing

/// The OpenAI batch file format: the input envelope and its errors, the output line's exact shape.
struct BatchFileFormatTests {
    func lineError(_ text: String) -> BatchLineError? {
        do { _ = try BatchInputLine.parse(Data(text.utf8)); return nil } catch { return error }
    }

    @Test func validEnvelopeKeepsTheBody() throws {
        let line = try BatchInputLine.parse(Data(#"{"custom_id":"a-1","method":"POST","url":"/v1/completions","body":{"prompt":[1,2],"echo":true}}"#.utf8))
        #expect(line.customID == "a-1")
        #expect(line.endpoint == .completions)
        let body = try #require(try JSONSerialization.jsonObject(with: line.body) as? [String: Any])
        #expect(body["echo"] as? Bool == true)
        #expect((body["prompt"] as? [Int]) == [1, 2])
    }

    @Test func linesThatAreNotRequests() throws {
        #expect(lineError("not json")?.code == "invalid_json")
        #expect(lineError("[1,2]")?.code == "invalid_line")
        #expect(lineError(#"{"method":"POST","url":"/score","body":{}}"#)?.code == "invalid_custom_id")
        #expect(lineError(#"{"custom_id":7,"method":"POST","url":"/score","body":{}}"#)?.code == "invalid_custom_id")
        let method = try #require(lineError(#"{"custom_id":"x","method":"GET","url":"/score","body":{}}"#))
        #expect(method.code == "invalid_method")
        #expect(method.customID == "x")
        let url = try #require(lineError(#"{"custom_id":"y","method":"POST","url":"/v1/chat/completions","body":{}}"#))
        #expect(url.code == "invalid_url")
        #expect(url.message.contains("/v1/chat/completions"))
        #expect(url.customID == "y")
        #expect(lineError(#"{"custom_id":"z","method":"POST","url":"/score","body":{},"extra":1}"#)?.code == "invalid_line")
    }

    @Test func responseLineHasOpenAIsMembersInOrder() {
        let body = Data(#"{"ok":true}"#.utf8)
        let line = String(decoding: BatchOutputLine.response(line: 12, customID: "q\"1", status: 200, body: body), as: UTF8.self)
        #expect(line == #"{"id":"batch_req_12","custom_id":"q\"1","response":{"status_code":200,"request_id":"req_12","body":{"ok":true}},"error":null}"# + "\n")
        #expect(BatchOutputLine.inputLine(of: Data(line.utf8)) == 12)
    }

    @Test func failureLineHasAnErrorObjectAndNoResponse() {
        let error = BatchLineError(code: "invalid_url", message: "no", customID: nil)
        let line = String(decoding: BatchOutputLine.failure(line: 3, error: error), as: UTF8.self)
        #expect(line == #"{"id":"batch_req_3","custom_id":null,"response":null,"error":{"code":"invalid_url","message":"no","line":3}}"# + "\n")
    }
}

/// The progress line and the summary's JSON.
struct ProgressAndSummaryTests {
    @Test func progressLineNamesDoneTotalRateETAAndErrors() {
        let progress = Progress(mode: .quiet, label: "batch", unit: "lines", total: 200)
        let text = progress.text(done: 50, tokens: 1000, errors: 2)
        #expect(text.hasPrefix("batch: 50/200 lines (25.0%), "))
        #expect(text.contains(" tokens/s, ETA "))
        #expect(text.hasSuffix(", 2 errors"))
        #expect(!Progress(mode: .quiet, label: "perplexity", unit: "tokens", total: nil).text(done: 5, tokens: 5, errors: nil).contains("error"))
        #expect(Progress.duration(3725) == "1h02m")
        #expect(Progress.duration(83) == "1m23s")
    }

    @Test func summaryJSONRoundTrips() throws {
        var summary = BatchSummary()
        summary.lines = 10
        summary.resumedLines = 3
        summary.errors = ["invalid_url": 1]
        summary.tokens = 500
        summary.scoredTokens = 480
        summary.forwardBatches = 2
        summary.seconds = 2
        let data = try JSONEncoder().encode(summary)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["tokens_per_second"] as? Double == 250)
        #expect(object["resumed_lines"] as? Int == 3)
        #expect(try JSONDecoder().decode(BatchSummary.self, from: data) == summary)
    }
}
