import Foundation

// Two ways in, one harness (`FuzzHarness.run`):
//
// - libFuzzer (`Scripts/fuzz.sh`): built with `-sanitize=fuzzer,address -DLMSCORE_FUZZING`, `main` hands
//   the command line to libFuzzer's driver, which calls `LLVMFuzzerTestOneInput` per input. (SwiftPM
//   links an executable's `main` to `<module>_main`, the `@main` below, so libFuzzer's own `main`
//   cannot be used: its `LLVMFuzzerRunDriver` is called instead.)
// - a plain build (`swift build` builds every target): `LMScoreFuzz FILE|DIR…` replays inputs — the
//   seed corpus, a saved crash — through the same harness without libFuzzer.

/// libFuzzer's callback: one input per call; 0 means the input was processed.
@_cdecl("LLVMFuzzerTestOneInput")
public func lmscoreFuzzTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    FuzzHarness.shared.run(data)
    return 0
}

#if LMSCORE_FUZZING
/// `int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t))`, in the
/// libFuzzer runtime that `-sanitize=fuzzer` links.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

@main
enum LMScoreFuzzMain {
    static func main() {
        #if LMSCORE_FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, lmscoreFuzzTestOneInput))
        #else
        replay(Array(CommandLine.arguments.dropFirst()))
        #endif
    }

    /// Runs every file named (every file in a directory named) through the harness.
    static func replay(_ arguments: [String]) {
        guard !arguments.isEmpty, !arguments.contains("-h"), !arguments.contains("--help") else {
            print("usage: LMScoreFuzz FILE|DIR…  (replays inputs through the fuzz harness; Scripts/fuzz.sh builds it to fuzz)")
            exit(arguments.isEmpty ? 2 : 0)
        }
        var files: [URL] = []
        for argument in arguments {
            let url = URL(fileURLWithPath: argument)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("LMScoreFuzz: \(argument): no such file\n".utf8))
                exit(2)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
                files += names.sorted().map { url.appendingPathComponent($0) }
            } else {
                files.append(url)
            }
        }
        let start = Date()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file.path) else { continue }
            FuzzHarness.shared.run(data)
        }
        print("LMScoreFuzz: \(files.count) inputs replayed in \(String(format: "%.2f", Date().timeIntervalSince(start))) s, no property broken")
    }
}
