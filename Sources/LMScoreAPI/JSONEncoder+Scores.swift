import Foundation

extension JSONEncoder {
    /// Sorted keys, and non-finite numbers as the strings "NaN", "Infinity", "-Infinity": a checkpoint
    /// holding NaN or huge weights can yield non-finite scores, and JSON has no NaN (say so rather than fail).
    public static var scores: JSONEncoder {
        let encoder = JSONEncoder.sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }
}
