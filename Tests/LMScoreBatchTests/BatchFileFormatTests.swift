import Foundation
import LMScoreAPI
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
