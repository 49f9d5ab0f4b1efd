import Foundation

/// A fresh directory under the system temporary directory, for one test; `remove()` deletes it
/// (`defer { temp.remove() }`).
public struct TemporaryDirectory {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lmscore-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(at: url) }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    public func path(_ name: String) -> String { file(name).path }

    /// Writes `text` to `name` and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: file(name))
        return path(name)
    }

    /// Writes `bytes` to `name` and returns its URL.
    @discardableResult
    public func write(_ name: String, _ bytes: Data) throws -> URL {
        try bytes.write(to: file(name))
        return file(name)
    }
}
