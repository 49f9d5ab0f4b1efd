import Foundation
import LMScoreServer
import Testing

extension ServerTests {
    @Suite("Listening")
    struct Listening {
        /// Without this a second `lmscore serve` on a busy port would share it (SO_REUSEPORT) and take
        /// half the connections, e.g. an old version left running while a new one starts.
        @Test("A second server on a port in use does not start: 'cannot listen on HOST:PORT: Address already in use'")
        func portInUse() async throws {
            let first = try await TestServer.start(testSettings())
            var settings = testSettings()
            settings.port = first.port
            let second = LMScoreService(settings: settings, logger: quietLogger())
            do {
                try await second.run()
                Issue.record("the second server started on port \(first.port)")
            } catch {
                #expect("\(error)" == "cannot listen on 127.0.0.1:\(first.port): Address already in use")
            }
            try await first.stop()
        }
    }
}
