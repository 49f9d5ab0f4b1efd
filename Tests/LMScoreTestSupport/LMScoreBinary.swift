import Foundation
import Testing

/// The `lmscore` executable built alongside the test bundle, for the tests that run it as a child
/// process (the CLI tests, `lmscore serve` in the drain tests).
public enum LMScoreBinary {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Places looked at, in order: $LMSCORE_BINARY, the directory of the running test bundle (the same
    /// build configuration), then `.build/debug` and `.build/release` of this repository.
    public static var candidates: [URL] {
        var urls: [URL] = []
        if let path = ProcessInfo.processInfo.environment["LMSCORE_BINARY"] { urls.append(URL(fileURLWithPath: path)) }
        for bundle in [Bundle.main.executableURL, Bundle.main.bundleURL, Bundle(for: BundleToken.self).bundleURL].compactMap({ $0 }) {
            // Walk up a few levels: on Linux the runner sits in the products directory; on macOS the
            // bundle is `…/debug/lmscorePackageTests.xctest/Contents/MacOS/…`.
            var directory = bundle.deletingLastPathComponent()
            for _ in 0..<4 {
                urls.append(directory.appendingPathComponent("lmscore"))
                directory = directory.deletingLastPathComponent()
            }
        }
        urls.append(repositoryRoot.appendingPathComponent(".build/debug/lmscore"))
        urls.append(repositoryRoot.appendingPathComponent(".build/release/lmscore"))
        return urls
    }

    public static let url: URL? = {
        let fm = FileManager.default
        return candidates.first { url in
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && fm.isExecutableFile(atPath: url.path)
        }
    }()

    public static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
        try #require(url, """
            lmscore executable not found; run `swift build` first (or set LMSCORE_BINARY). Looked at:
            \(candidates.map(\.path).joined(separator: "\n"))
            """, sourceLocation: sourceLocation)
    }
}

private final class BundleToken {}

/// The Hugging Face perplexity guide's loop: windows start at 0, S, 2S, … until one reaches the end.
public func hfWindowCount(length: Int, context: Int, stride: Int) -> Int {
    var count = 0
    var begin = 0
    while true {
        let end = min(begin + context, length)
        count += 1
        if end == length { return count }
        begin += stride
    }
}
