import Foundation
import LMScoreEngine

/// `"statistics": ["entropy", "rank"]` in `/score`, `/v1/completions` and batch lines: the per-position
/// statistics to add beside the log-probs (lists aligned with them, null where they are null).
enum StatisticsField {
    static let names: [(String, PositionStatistics)] = [("entropy", .entropy), ("rank", .rank)]

    static func read(_ value: Any) throws(APIError) -> PositionStatistics {
        var statistics: PositionStatistics = []
        for (i, item) in try JSONReader.array(value, at: "statistics").enumerated() {
            let name = try JSONReader.string(item, at: "statistics[\(i)]")
            guard let statistic = names.first(where: { $0.0 == name })?.1 else {
                throw .invalid("statistics[\(i)]", "unknown statistic `\(name)`: expected \(names.map { "`\($0.0)`" }.joined(separator: " or "))",
                               code: "unsupported_value")
            }
            statistics.insert(statistic)
        }
        return statistics
    }
}
