import Foundation
import LMScoreAPI

/// `lmscore batch --merge`: joins the outputs of `--shard I/N` runs into one file in input order. Each
/// output line names its input line (`id` = `batch_req_<line>`), so the merge is a k-way merge on that
/// number; a line number seen twice (overlapping shards) or out of order is refused.
public enum BatchMerge {
    public static func merge(_ inputs: [String], into output: String) throws(BatchError) -> Int {
        guard !inputs.isEmpty else { throw BatchError("--merge needs the shard outputs to join") }
        let readers = try inputs.map { path throws(BatchError) in try LineReader(path: path) }
        func next(_ r: Int) throws(BatchError) -> (line: Int, text: Data)? {
            while let text = try readers[r].next() {
                if BatchRunner.isBlank(text) { continue }
                guard let line = BatchOutputLine.inputLine(of: text) else {
                    throw BatchError("\(inputs[r]):\(readers[r].lineNumber): not a batch output line (no id batch_req_<line>)")
                }
                return (line, text)
            }
            return nil
        }
        var heads = try (0..<readers.count).map { r throws(BatchError) in try next(r) }
        let temporary = output == "-" ? "-" : output + ".tmp"
        let file = try OutputFile(path: temporary, compression: output == "-" ? .none : Compression(path: output))
        var last = 0
        var written = 0
        while let r = heads.indices.filter({ heads[$0] != nil }).min(by: { heads[$0]!.line < heads[$1]!.line }) {
            let (line, text) = heads[r]!
            guard line > last else {
                throw BatchError("\(inputs[r]): input line \(line) appears twice or out of order (overlapping shards?)")
            }
            try file.write(text)
            try file.write(Data([UInt8(ascii: "\n")]))
            last = line
            written += 1
            heads[r] = try next(r)
        }
        try file.finish()
        if output != "-" {
            guard rename(temporary, output) == 0 else { throw BatchError("cannot rename \(temporary) to \(output)") }
            CheckpointedOutput.syncDirectory(of: output)
        }
        return written
    }
}
