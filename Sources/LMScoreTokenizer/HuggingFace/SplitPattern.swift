import Foundation

/// What a `Split` pre-tokenizer looks for, and how HF's `Pattern::find_matches` reports it: the whole
/// piece as consecutive ranges of scalar indices, each a match or the text between matches.
enum SplitPattern: @unchecked Sendable {  // NSRegularExpression is immutable and thread-safe once compiled
    case literal([Unicode.Scalar])
    /// A regex, compiled by ICU (NSRegularExpression). HF compiles it with Oniguruma; the two agree on
    /// everything tokenizer patterns use (`\p{L}`, `\p{N}`, `(?i:…)`, `(?!\S)`, `{1,3}`) except `\s`,
    /// which ICU reads as `[\t\n\f\r\p{Z}]` and Oniguruma as the White_Space property (also U+000B and
    /// U+0085): `compile` rewrites `\s`/`\S` to `\p{White_Space}`/`\P{White_Space}`.
    case regex(NSRegularExpression)

    /// The pattern compiled, or an error naming `key` if ICU refuses it.
    static func compile(_ pattern: String, json: TokenizerJSON, key: String) throws(TokenizerError) -> SplitPattern {
        do {
            return .regex(try NSRegularExpression(pattern: onigurumaWhitespace(pattern)))
        } catch {
            throw json.invalid(key, "regex \(pattern) does not compile: \(error)")
        }
    }

    /// `\s` → `\p{White_Space}` and `\S` → `\P{White_Space}`, outside and inside brackets; every other
    /// escape (`\\s` included) is left as it is.
    static func onigurumaWhitespace(_ pattern: String) -> String {
        var out = ""
        var escaped = false
        for character in pattern {
            if escaped {
                switch character {
                case "s": out += "p{White_Space}"
                case "S": out += "P{White_Space}"
                default: out.append(character)
                }
                escaped = false
            } else {
                out.append(character)
                escaped = character == "\\"
            }
        }
        return out
    }

    /// Consecutive ranges covering `0 ..< scalars.count`, flagged `true` where the pattern matched.
    /// Empty text is one empty non-match, as in HF.
    func matches(in scalars: [Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)] {
        guard !scalars.isEmpty else { return [(0 ..< 0, false)] }
        var found: [Range<Int>] = []
        switch self {
        case .literal(let pattern):
            guard !pattern.isEmpty else { break }
            var i = 0
            while i + pattern.count <= scalars.count {
                if scalars[i ..< i + pattern.count].elementsEqual(pattern) {
                    found.append(i ..< i + pattern.count)
                    i += pattern.count
                } else {
                    i += 1
                }
            }
        case .regex(let regex):
            // NSRegularExpression counts in UTF-16 units: map them back to scalar indices.
            var text = String.UnicodeScalarView()
            text.append(contentsOf: scalars)
            let string = String(text)
            var scalarAt: [Int] = []  // scalarAt[utf16 offset] for offsets that start a scalar, and the end
            scalarAt.reserveCapacity(scalars.count + 1)
            for (index, scalar) in scalars.enumerated() {
                scalarAt.append(index)
                if scalar.value > 0xFFFF { scalarAt.append(index) }
            }
            scalarAt.append(scalars.count)
            let length = scalarAt.count - 1
            for match in regex.matches(in: string, range: NSRange(location: 0, length: length)) {
                let range = match.range
                found.append(scalarAt[range.location] ..< scalarAt[range.location + range.length])
            }
        }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        for range in found {
            if previous != range.lowerBound { out.append((previous ..< range.lowerBound, false)) }
            out.append((range, true))
            previous = range.upperBound
        }
        if previous != scalars.count { out.append((previous ..< scalars.count, false)) }
        return out
    }
}

/// What `Split` (and `Digits`, `Metaspace`) do with the matches: HF's `SplitDelimiterBehavior`.
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious",
         mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    /// The ranges the piece is cut into (some may be empty; the caller drops those), following
    /// `NormalizedString::split` in HF `tokenizers` step for step.
    func apply(_ matches: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        switch self {
        case .removed:
            return matches.filter { !$0.isMatch }.map(\.range)
        case .isolated:
            return matches.map(\.range)
        case .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (range, isMatch) in matches {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound ..< range.upperBound
                } else {
                    out.append(range)
                }
                previousMatch = isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (range, isMatch) in matches.reversed() {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = range.lowerBound ..< last.upperBound
                } else {
                    out.append(range)
                }
                previousMatch = isMatch
            }
            return out.reversed()
        case .contiguous:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (range, isMatch) in matches {
                if isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound ..< range.upperBound
                } else {
                    out.append(range)
                }
                previousMatch = isMatch
            }
            return out
        }
    }
}
