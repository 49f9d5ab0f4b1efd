import Foundation
import LMScoreTestSupport
import Testing

@Suite("lmscore bench")
struct BenchCommandTests {
    @Test("bench --shapes 1x8,2x8,2x4+1x9 --seconds 0.2 prints one table row per shape (a + call: rows of mixed lengths)")
    func shapes() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let result = try lmscore(["bench", "--model", temp.file("model").path, "--shapes", "1x8,2x8,2x4+1x9", "--seconds", "0.2"])
        #expect(result.status == 0, "\(result)")
        let lines = result.out.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("| shape |") }, "\(result)")
        for (shape, tokens) in [("1x8", 8), ("2x8", 16), ("2x4+1x9", 17)] {
            let rows = lines.filter { $0.hasPrefix("| \(shape) |") }
            try #require(rows.count == 1, "no single row for \(shape):\n\(result.out)")
            let cells = rows[0].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells.count == 6, "\(rows[0])")
            #expect(cells.count > 3 && Int(cells[1]) == tokens, "\(rows[0])")
            #expect(cells.count > 3 && (Double(cells[3]) ?? 0) > 0, "tokens/s in \(rows[0])")
        }
        // The default --product: the measured FMA peak, then both B layouts as a fraction of it.
        let peak = try #require(lines.first { $0.hasPrefix("FP32 peak, measured: ") }, "\(result.out)")
        #expect(Double(peak.split(separator: " ")[3]).map { $0 > 0 } == true, "\(peak)")
        let products = lines.filter { $0.hasPrefix("product 1024x768x3072 alone, B [") }
        #expect(products.count == 2, "\(result.out)")
    }

    @Test("bench --product-type: both layouts, B reused and B from memory, each a positive GFLOP/s", arguments: ["F32", "f16", "BF16"])
    func productType(_ type: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let result = try lmscore(["bench", "--model", temp.file("model").path, "--shapes", "", "--product", "24x64x96",
                                  "--product-type", type, "--seconds", "0.05"])
        #expect(result.status == 0, "\(result)")
        let lines = result.out.split(separator: "\n").filter { $0.hasPrefix("product 24x64x96 alone, B [") }
        #expect(lines.map { $0.contains("[K, N]") } == [true, false], "\(result.out)")
        for line in lines {
            #expect(line.contains("] \(type.uppercased()): "), "\(line)")
            // "… : X GFLOP/s = P % of the measured peak; B from memory: Y GFLOP/s = Q % (B read at Z GB/s)"
            let numbers = line.split(whereSeparator: { $0 == " " || $0 == "(" }).compactMap { Double($0) }
            #expect(numbers.count == 5 && numbers.allSatisfy { $0 > 0 }, "\(line)")
            #expect(line.contains("; B from memory: ") && line.hasSuffix(" GB/s)"), "\(line)")
        }
    }

    @Test("bench --product-type Q8_0: refused, naming the value")
    func badProductType() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let result = try lmscore(["bench", "--model", temp.file("model").path, "--shapes", "", "--product", "8x8x8", "--product-type", "Q8_0"])
        #expect(result.status != 0, "\(result)")
        #expect(result.err.contains("Q8_0"), "\(result)")
    }

    @Test("bench --invariance adds the Δ column")
    func invariance() throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let result = try lmscore(["bench", "--model", temp.file("model").path, "--shapes", "3x8", "--seconds", "0.05", "--invariance"])
        #expect(result.status == 0, "\(result)")
        let row = try #require(result.out.split(separator: "\n").first { $0.hasPrefix("| 3x8 |") }, "\(result)")
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells.count == 7, "\(row)")
        let delta = try #require(cells.last.flatMap(Double.init), "\(row)")
        #expect(delta == 0, "the kernels are batch-invariant bit for bit")
    }

    @Test("a malformed shape: non-zero exit, one line naming it", arguments: ["1x", "0x8", "2x1", "abc", "2x8+", "2x8+1x1", "2x8++1x4"])
    func badShape(_ shape: String) throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        try writeTinyCheckpoint(to: temp.file("model"))
        let result = try lmscore(["bench", "--model", temp.file("model").path, "--shapes", shape, "--seconds", "0.05"])
        #expect(result.status != 0, "\(result)")
        #expect(result.errLines.count == 1, "stderr:\n\(result.err)")
        #expect(result.err.contains(shape), "\(result)")
    }
}
