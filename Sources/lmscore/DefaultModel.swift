import Foundation

/// The model lmscore uses when none is named: `Models/lmscore-gpt2-small-en`, trained by
/// `Scripts/train_default_model.py` and shipped in the repository and the container image.
enum DefaultModel {
    static let name = "lmscore-gpt2-small-en"

    /// Where it is looked for, in order: the installed layout next to the binary
    /// (`<prefix>/bin/lmscore` → `<prefix>/share/lmscore/models/`), the repository the binary was built in
    /// (`<repo>/.build/…/lmscore` → `<repo>/Models/`), and `./Models/` under the working directory.
    static var candidates: [URL] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().standardizedFileURL
        var places = [executable.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/lmscore/models/\(name)")]
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            places.append(directory.appendingPathComponent("Models/\(name)"))
            directory = directory.deletingLastPathComponent()
        }
        places.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Models/\(name)"))
        return places
    }

    static func locate() -> String? {
        candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }?.path
    }

    /// The bundled model's GPT-2 ranks file, the tokenizer for any model with GPT-2's vocabulary.
    static var ranksFile: String? {
        locate().map { URL(fileURLWithPath: $0).appendingPathComponent("gpt2.tiktoken").path }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
    }

    /// `model` if given, else the default model, else a one-line error.
    static func resolve(_ model: String?) throws -> String {
        if let model { return model }
        guard let found = locate() else {
            throw CommandFailure("no --model given and the default model \(name) was not found next to the binary or in ./Models")
        }
        return found
    }
}
