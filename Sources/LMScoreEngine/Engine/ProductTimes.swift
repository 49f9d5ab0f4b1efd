import Foundation
import Synchronization

/// Where a scoring call's time goes among its weight products, measured inside real calls
/// (`lmscore bench --product-times`): wall time per product shape (M × K × N, B's layout and element
/// type), summed over the calls made while recording. A product alone (`--product`) runs with its
/// weights hot in cache and its input just written; inside a call they come from memory, after other
/// work, so the two can differ.
public final class ProductTimes: Sendable {
    /// One product shape's totals.
    public struct Entry: Sendable {
        /// "1016×768×3072 [K, N] F32"
        public let shape: String
        public var calls = 0
        public var seconds = 0.0
        public var flop = 0.0
    }

    private let table = Mutex<[String: Entry]>([:])

    public init() {}

    /// The weight product `shape` took `seconds` for `flop` FLOP (a multiply-add counting 2).
    func record(_ shape: String, seconds: Double, flop: Double) {
        table.withLock { table in
            var entry = table[shape] ?? Entry(shape: shape)
            entry.calls += 1
            entry.seconds += seconds
            entry.flop += flop
            table[shape] = entry
        }
    }

    /// The totals since the last drain, most time first; starts over.
    public func drain() -> [Entry] {
        table.withLock { table in
            defer { table = [:] }
            return table.values.sorted { $0.seconds > $1.seconds }
        }
    }
}

extension ComputeContext {
    /// `body` (one weight product), timed into `productTimes` when this context records.
    /// `parts` > 1: several matrices side by side, multiplied in one go (`matmul(parts:)`).
    func timingProduct(m: Int, n: Int, k: Int, elementType: ElementType, transposeB: Bool, parts: Int = 1, _ body: () -> Void) {
        guard let productTimes else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        productTimes.record("\(m)×\(k)×\(n) \(transposeB ? "[N, K]" : "[K, N]") \(elementType.rawValue)\(parts > 1 ? ", \(parts) matrices" : "")",
                            seconds: seconds, flop: 2 * Double(m) * Double(n) * Double(k))
    }
}
