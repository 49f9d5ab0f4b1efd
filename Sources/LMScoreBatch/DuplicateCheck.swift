import Crypto
import Foundation
import LMScoreAPI

/// Finds a `custom_id` used twice. Each id is kept as 16 bytes of its SHA-256 (not the string), so the
/// check costs ~40 bytes per line whatever the ids' length; two ids that share 128 bits of SHA-256 do
/// not occur in practice.
struct DuplicateCheck {
    private var firstLine: [Digest128: Int] = [:]

    private struct Digest128: Hashable {
        let high: UInt64
        let low: UInt64
    }

    /// Records `customID` seen on `line` (1-based); throws naming both lines when it was seen before.
    mutating func record(_ customID: String, line: Int) throws(BatchError) {
        let digest = SHA256.hash(data: Data(customID.utf8))
        let key = digest.withUnsafeBytes { bytes in
            Digest128(high: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), low: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        if let earlier = firstLine[key] {
            throw BatchError("duplicate custom_id \"\(customID.prefix(200))\" on lines \(earlier) and \(line)")
        }
        firstLine[key] = line
    }

    /// Reads a whole file before any work: duplicates are refused up front, and the number of lines
    /// this shard will answer is known (for the progress line).
    static func survey(_ path: String, shard: Shard) throws(BatchError) -> Int {
        var check = DuplicateCheck()
        var taken = 0
        let reader = try LineReader(path: path)
        while let line = try reader.next() {
            guard !BatchRunner.isBlank(line) else { continue }
            if shard.takes(line: reader.lineNumber - 1) { taken += 1 }
            if let id = BatchInputLine.customID(of: line) { try check.record(id, line: reader.lineNumber) }
        }
        return taken
    }
}
