import Foundation

/// Tests/Fixtures/compare/expected.json (Scripts/make_compare_reference.py): the model p =
/// tiny-perturbed and the reference q = shared/reference/tiny on two sequences, with float64 numpy's
/// numbers on the float32 logits stored in logits.f32.
public struct CompareFixture: Decodable, Sendable {
    public struct Row: Decodable, Sendable {
        public let logprobs: [Double]
        public let reference_logprobs: [Double]
        public let entropy: [Double]
        public let rank: [Int]
        public let kl: [Double]
        public let delta_p: [Double]
        public let same_top: [Bool]
        public let cross_entropy: [Double]
        public let logprob_variance: [Double]
        public let binoculars: Double
        public let binoculars_all_positions: Double
        public let fast_detect_gpt: Double
    }
    public let vocab_size: Int
    public let sequences: [[Int32]]
    public let rows: [Row]
    /// llama.cpp's summary, numpy: the JSON object as parsed (the API's `batch.kld` has this shape).
    public let kld: [String: JSONNumberTree]

    public static let directory = Fixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/compare")
    public static let modelDirectory = directory.appendingPathComponent("tiny-perturbed")
    public static let referenceDirectory = Fixtures.sharedReference.appendingPathComponent("tiny")

    public static func load() throws -> CompareFixture {
        try JSONDecoder().decode(CompareFixture.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
    }

    /// logits.f32: [p | q][position over rows][vocab] little-endian float32.
    public func logits() throws -> (model: [[Float]], reference: [[Float]]) {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("logits.f32"))
        let values = data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        let positions = rows.reduce(0) { $0 + $1.logprobs.count }
        precondition(values.count == 2 * positions * vocab_size, "logits.f32 does not match expected.json")
        let tiles = (0..<2 * positions).map { Array(values[$0 * vocab_size ..< ($0 + 1) * vocab_size]) }
        return (Array(tiles[..<positions]), Array(tiles[positions...]))
    }
}

/// A JSON tree of numbers and objects (the `kld` summary), for field-by-field comparison.
public indirect enum JSONNumberTree: Decodable, Sendable {
    case number(Double)
    case object([String: JSONNumberTree])

    public init(from decoder: any Decoder) throws {
        if let value = try? decoder.singleValueContainer().decode(Double.self) {
            self = .number(value)
        } else {
            self = .object(try decoder.singleValueContainer().decode([String: JSONNumberTree].self))
        }
    }

    /// Every leaf as (path, value).
    public func leaves(_ prefix: String = "") -> [(String, Double)] {
        switch self {
        case .number(let v): return [(prefix, v)]
        case .object(let o): return o.sorted { $0.key < $1.key }.flatMap { $1.leaves(prefix.isEmpty ? $0 : "\(prefix).\($0)") }
        }
    }
}
