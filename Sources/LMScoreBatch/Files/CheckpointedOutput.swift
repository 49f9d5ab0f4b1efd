import Foundation

/// The output of a run that can be killed at any moment (SIGKILL included) and rerun to continue.
///
/// Output lines collect in memory as a chunk; every few hundred input lines (or seconds) the chunk
/// is written to `OUTPUT.parts/<first>-<end>.jsonl.tmp`, synced, and renamed to
/// `<first>-<end>.jsonl`: a chunk file exists complete or not at all, and names the input lines
/// `[first, end)` (0-based, every physical line: blank lines and other shards' lines included) it
/// covers. A rerun reads the chunk names, checks they tile `[0, done)`, and skips those lines. When the
/// input is exhausted, the chunks are joined (compressed as OUTPUT's name says) into `OUTPUT.tmp`,
/// which is synced and renamed to OUTPUT; then the parts directory goes. `OUTPUT.parts/run.json`
/// records the input and shard, so a rerun with other arguments is refused instead of mixing outputs.
///
/// The parts directory itself appears and goes atomically: it is made as `OUTPUT.parts.new` with its
/// run.json and renamed into place, and at the end renamed to `OUTPUT.parts.old` before it is removed.
/// So a kill at any moment leaves OUTPUT.parts with its run.json or no OUTPUT.parts at all; a leftover
/// `.new` or `.old` (a kill while making or removing one) is removed by the next run.
public final class CheckpointedOutput: BatchSink {
    public let path: String
    public let directory: String
    /// Where the parts directory is made before it is renamed into place, and renamed to before removal.
    private var staging: String { directory + ".new" }
    private var finished: String { directory + ".old" }
    public private(set) var resumeLine = 0
    private var chunk: [UInt8] = []
    private var chunkStart = 0
    private var lastCommit = ContinuousClock.Instant.now
    private let checkpointLines: Int
    private let checkpointSeconds: Double
    private static let checkpointBytes = 16 << 20

    /// What a parts directory belongs to.
    struct Run: Codable, Equatable {
        var input: String
        var inputBytes: Int
        var inputModified: Double
        var shard: String
    }

    public init(path: String, input: String, shard: Shard, checkpointLines: Int, checkpointSeconds: Double = 10) throws(BatchError) {
        self.path = path
        directory = path + ".parts"
        self.checkpointLines = max(1, checkpointLines)
        self.checkpointSeconds = checkpointSeconds
        let run = Run(input: input == "-" ? "-" : URL(fileURLWithPath: input).standardizedFileURL.path,
                      inputBytes: InputIdentity.size(of: input), inputModified: InputIdentity.modified(input), shard: shard.description)
        let files = FileManager.default
        let manifest = directory + "/run.json"
        for leftover in [staging, finished] where files.fileExists(atPath: leftover) {
            do { try files.removeItem(atPath: leftover) } catch {
                throw BatchError("cannot remove \(leftover), left by a killed run: \(error.localizedDescription)")
            }
        }
        if files.fileExists(atPath: directory) {
            guard let data = files.contents(atPath: manifest), let recorded = try? JSONDecoder().decode(Run.self, from: data) else {
                throw BatchError("\(directory) exists but holds no readable run.json: remove it to start again")
            }
            guard recorded == run else {
                throw BatchError("\(directory) holds a run over \(recorded.input) (\(recorded.inputBytes) bytes, shard \(recorded.shard)), "
                                 + "not \(run.input) (\(run.inputBytes) bytes, shard \(run.shard)): remove it to start again")
            }
            resumeLine = try Self.completedLines(in: directory)
        } else {
            if files.fileExists(atPath: path) {
                throw BatchError("\(path) already exists (a finished run?): remove it first, or choose another output")
            }
            do {
                try files.createDirectory(atPath: staging, withIntermediateDirectories: false)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                try Self.writeAtomically(try encoder.encode(run), to: staging + "/run.json")
            } catch let error as BatchError { throw error } catch {
                throw BatchError("cannot create \(staging): \(error.localizedDescription)")
            }
            guard rename(staging, directory) == 0 else {
                throw BatchError("cannot rename \(staging) to \(directory): \(String(cString: strerror(errno)))")
            }
            Self.syncDirectory(of: directory)
        }
        chunkStart = resumeLine
    }

    /// Chunk file names `<first>-<end>.jsonl`, checked to tile [0, end); stale `.tmp` files removed.
    static func completedLines(in directory: String) throws(BatchError) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var ranges: [(Int, Int)] = []
        for name in names {
            if name.hasSuffix(".tmp") { try? FileManager.default.removeItem(atPath: directory + "/" + name); continue }
            guard name.hasSuffix(".jsonl") else { continue }
            let bounds = name.dropLast(".jsonl".count).split(separator: "-").compactMap { Int($0) }
            guard bounds.count == 2 else { throw BatchError("\(directory)/\(name): not a chunk of this run") }
            ranges.append((bounds[0], bounds[1]))
        }
        var done = 0
        for (first, end) in ranges.sorted(by: { $0.0 < $1.0 }) {
            guard first == done else { throw BatchError("\(directory): chunks do not tile the input (a gap or overlap at line \(done + 1))") }
            done = end
        }
        return done
    }

    public func append(_ line: Data) {
        chunk.append(contentsOf: line)
    }

    /// Every input line before `inputLine` (0-based) has its output appended: commit when due.
    public func linesDone(upTo inputLine: Int, force: Bool = false) throws(BatchError) {
        guard inputLine > chunkStart else { return }
        let due = force || inputLine - chunkStart >= checkpointLines || chunk.count >= Self.checkpointBytes
            || seconds(since: lastCommit) >= checkpointSeconds
        guard due else { return }
        let name = String(format: "%@/%012d-%012d.jsonl", directory, chunkStart, inputLine)
        try Self.writeAtomically(Data(chunk), to: name)
        chunk.removeAll(keepingCapacity: true)
        chunkStart = inputLine
        lastCommit = .now
    }

    /// Joins the chunks into OUTPUT (atomically) and removes the parts directory.
    public func finish(inputLines: Int) throws(BatchError) {
        try linesDone(upTo: inputLines, force: true)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
        let temporary = path + ".tmp"
        let output = try OutputFile(path: temporary, compression: Compression(path: path))
        for name in names {   // zero-padded line numbers: name order is input order
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
                throw BatchError("cannot read \(directory)/\(name)")
            }
            try output.write(data)
        }
        try output.finish()
        guard rename(temporary, path) == 0 else { throw BatchError("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))") }
        Self.syncDirectory(of: path)
        guard rename(directory, finished) == 0 else {
            throw BatchError("wrote \(path) but cannot rename \(directory): \(String(cString: strerror(errno)))")
        }
        do { try FileManager.default.removeItem(atPath: finished) } catch {
            throw BatchError("wrote \(path) but cannot remove \(finished): \(error.localizedDescription)")
        }
    }

    /// Write to `path.tmp`, sync, rename over `path`, sync the directory: `path` is whole or absent.
    static func writeAtomically(_ data: Data, to path: String) throws(BatchError) {
        let temporary = path + ".tmp"
        let file = try OutputFile(path: temporary, compression: .none)
        try file.write(data)
        try file.finish()
        guard rename(temporary, path) == 0 else { throw BatchError("cannot rename \(temporary): \(String(cString: strerror(errno)))") }
        syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) {
        let directory = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        guard directory >= 0 else { return }
        fsync(directory)
        close(directory)
    }
}

/// Output straight to a file or standard output, no checkpoints: `-o -`, or `--no-resume`.
public final class DirectOutput: BatchSink {
    private let file: OutputFile
    public var resumeLine: Int { 0 }

    public init(path: String) throws(BatchError) {
        file = try OutputFile(path: path, compression: path == "-" ? .none : Compression(path: path))
    }

    public func append(_ line: Data) throws(BatchError) { try file.write(line) }
    public func linesDone(upTo inputLine: Int, force: Bool) throws(BatchError) {}
    public func finish(inputLines: Int) throws(BatchError) { try file.finish() }
}

/// Where a run's output lines go, in input order.
public protocol BatchSink: AnyObject {
    /// Input lines before this one (0-based) were done by an earlier run.
    var resumeLine: Int { get }
    func append(_ line: Data) throws(BatchError)
    func linesDone(upTo inputLine: Int, force: Bool) throws(BatchError)
    func finish(inputLines: Int) throws(BatchError)
}

/// How a rerun recognizes its input: the file's size and modification time.
enum InputIdentity {
    static func size(of path: String) -> Int {
        guard path != "-" else { return 0 }
        return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    static func modified(_ path: String) -> Double {
        guard path != "-" else { return 0 }
        return ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let (s, attoseconds) = (ContinuousClock.Instant.now - start).components
    return Double(s) + Double(attoseconds) * 1e-18
}
