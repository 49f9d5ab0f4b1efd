import ArgumentParser
import Foundation
import LMScoreTokenizer
import LMScoreAPI

/// `lmscore tokenize [FILE]`: text → token ids with the model's tokenizer (GPT-2's tiktoken ranks, or a
/// Hugging Face tokenizer.json; `--tokenizer FILE` names one directly), ids → text with `--decode`,
/// encoding speed with `--bench`. `Scripts/check_tokenizer.sh` compares it with tiktoken and
/// `Scripts/check_hf_tokenizers.sh` with HF `tokenizers`, through `--jsonl` (many texts or id lists in
/// one process).
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Text (FILE or stdin) → token ids as a JSON array; --decode: ids → text.",
        discussion: """
            The tokenizer is gpt2.tiktoken in the model directory (default: the bundled model's; checked \
            against its SHA-256), else its tokenizer.json; --tokenizer names a tokenizer.json or ranks file \
            directly. --jsonl: every input line is one JSON string (or, with --decode, one JSON \
            array of ids) and gets one output line; an id list that cannot be decoded gives {"error": …} on \
            its line instead of ending the run.
            """)

    @Argument(help: "Text file (UTF-8), or ids JSON with --decode; '-' or none: standard input.")
    var file: String?

    @Option(name: .long, help: "Model directory holding gpt2.tiktoken or tokenizer.json (default: the bundled lmscore-gpt2-small-en).")
    var model: String?

    @Option(name: .long, help: "A tokenizer file instead of a model directory: tokenizer.json (HF tokenizers format), a GGUF file's vocabulary (.gguf) or gpt2.tiktoken.")
    var tokenizer: String?

    @Flag(name: .long, help: "Encode special tokens' text (<|endoftext|>, <s>) as those tokens (default: as ordinary text).")
    var allowSpecial = false

    @Flag(name: .long, help: "Print {\"ids\": [...], \"byte_offsets\": [...]}: where each token starts in the UTF-8 text.")
    var byteOffsets = false

    @Flag(name: .long, help: "Decode: a JSON array of ids in, {\"text\": ..., \"offsets\": [...]} out (offsets in code points, null when the bytes are not UTF-8).")
    var decode = false

    @Flag(name: .long, help: "One JSON value per input line, one output line each.")
    var jsonl = false

    @Flag(name: .long, help: "Instead of printing ids, encode the text --repetitions times on one thread and print MB/s and tokens/s.")
    var bench = false

    @Option(name: .long, help: "Repetitions for --bench.")
    var repetitions = 10

    func validate() throws {
        if model != nil && tokenizer != nil { throw ValidationError("give --model or --tokenizer, not both") }
        if bench && (decode || jsonl || byteOffsets) { throw ValidationError("--bench encodes one text: not with --decode, --jsonl or --byte-offsets") }
        if decode && (allowSpecial || byteOffsets) { throw ValidationError("--allow-special and --byte-offsets are for encoding, not --decode") }
        if repetitions < 1 { throw ValidationError("--repetitions must be at least 1") }
    }

    func run() throws {
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let tokenizer = try loadTokenizer()
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
        let input = try readInput(file)
        let source = file ?? "stdin"
        var output = Data()
        if bench {
            try runBench(tokenizer, text: utf8Text(input, source: source), loadSeconds: loadSeconds)
            return
        }
        if jsonl {
            var lineNumber = 0
            for line in input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                let place = "\(source): line \(lineNumber)"
                if decode {
                    let ids = try idArray(Data(line), source: place)
                    do { output.append(try decoded(tokenizer, ids)) } catch let error as TokenizerError {
                        output.append(Data(#"{"error":"#.utf8) + JSONText.string("\(error)") + Data("}".utf8))
                    }
                } else {
                    guard let text = try? JSONDecoder().decode(String.self, from: Data(line)) else {
                        throw CommandFailure("\(place): not a JSON string")
                    }
                    output.append(encoded(tokenizer, text))
                }
                output.append(UInt8(ascii: "\n"))
            }
        } else if decode {
            let ids = try idArray(input, source: source)
            do { output = try decoded(tokenizer, ids) } catch let error as TokenizerError {
                throw CommandFailure("\(source): \(error)")
            }
            output.append(UInt8(ascii: "\n"))
        } else {
            output = encoded(tokenizer, try utf8Text(input, source: source))
            output.append(UInt8(ascii: "\n"))
        }
        FileHandle.standardOutput.write(output)
    }

    /// `--tokenizer`, or the tokenizer of `--model` (or of the default model).
    func loadTokenizer() throws -> any TextTokenizer {
        do {
            if let tokenizer { return try TokenizerLookup.load(file: URL(fileURLWithPath: tokenizer)) }
            let directory = URL(fileURLWithPath: try DefaultModel.resolve(model))
            guard let found = try TokenizerLookup.load(modelDirectory: directory, vocabSize: Int.max, fallback: nil) else {
                throw CommandFailure("\(directory.path): no \(GPT2Tokenizer.ranksFileName) or \(HFTokenizer.fileName) in the model directory")
            }
            return found
        } catch let error as TokenizerError { throw CommandFailure("cannot load tokenizer: \(error)") }
    }

    func encoded(_ tokenizer: any TextTokenizer, _ text: String) -> Data {
        guard byteOffsets else { return JSONText.integers(tokenizer.encode(text, allowSpecial: allowSpecial)) }
        let (ids, offsets) = tokenizer.encodeWithByteOffsets(text, allowSpecial: allowSpecial)
        return Data(#"{"ids":"#.utf8) + JSONText.integers(ids) + Data(#","byte_offsets":"#.utf8)
            + JSONText.integers(offsets) + Data("}".utf8)
    }

    /// `{"text": …, "offsets": […]}`; offsets null (and `offsets_error` says why) when the bytes are not
    /// UTF-8, where tiktoken's `decode_with_offsets` raises. A tokenizer.json gives `{"text": …}` only:
    /// its decoder may drop or add characters, so offsets into its text are not defined.
    func decoded(_ tokenizer: any TextTokenizer, _ ids: [Int32]) throws -> Data {
        let text = try tokenizer.decode(ids)
        var json = Data(#"{"text":"#.utf8) + JSONText.string(text)
        guard let gpt2 = tokenizer as? GPT2Tokenizer else { return json + Data("}".utf8) }
        json += Data(#","offsets":"#.utf8)
        do {
            json += JSONText.integers(try gpt2.decodeWithOffsets(ids).offsets)
        } catch {
            json += Data("null".utf8) + Data(#","offsets_error":"#.utf8) + JSONText.string("\(error)")
        }
        return json + Data("}".utf8)
    }

    func runBench(_ tokenizer: any TextTokenizer, text: String, loadSeconds: Double) throws {
        let bytes = text.utf8.count
        guard bytes > 0 else { throw CommandFailure("--bench needs some text") }
        var tokens = tokenizer.encode(text, allowSpecial: allowSpecial).count  // warm-up
        var times: [Double] = []
        for _ in 0 ..< repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            tokens = tokenizer.encode(text, allowSpecial: allowSpecial).count
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let total = times.reduce(0, +)
        let median = times.sorted()[times.count / 2]
        print("lmscore tokenize --bench: \(bytes) bytes, \(tokens) tokens, \(repetitions) repetitions on one thread "
              + String(format: "(tokenizer loaded in %.3f s)", loadSeconds))
        print(String(format: "encode: %.2f MB/s, %.0f tokens/s (all repetitions); median %.2f MB/s",
                     Double(bytes * repetitions) / total / 1e6, Double(tokens * repetitions) / total,
                     Double(bytes) / median / 1e6))
    }

    func utf8Text(_ data: Data, source: String) throws -> String {
        // Not String(data:encoding:), which may drop a leading byte order mark: tiktoken keeps it.
        guard let text = String(validating: data, as: UTF8.self) else { throw CommandFailure("\(source): not UTF-8 text") }
        return text
    }

    func idArray(_ json: Data, source: String) throws -> [Int32] {
        guard let ids = try? JSONDecoder().decode([Int32].self, from: json) else {
            throw CommandFailure("\(source): expected a JSON array of token ids (integers)")
        }
        return ids
    }
}

/// JSON text written by hand, for speed on large outputs (a million ids) and exact control over
/// strings: only `"`, `\` and control characters are escaped; everything else stays UTF-8.
enum JSONText {
    static func integers<T: BinaryInteger>(_ values: [T]) -> Data {
        var out = "["
        out.reserveCapacity(values.count * 6 + 2)
        for (i, value) in values.enumerated() {
            if i > 0 { out += "," }
            out += String(value)
        }
        out += "]"
        return Data(out.utf8)
    }

    static func string(_ text: String) -> Data {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(text.utf8.count + 2)
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0 ..< 0x20: out += Array(#"\u00"#.utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return Data(out)
    }
}
