import Foundation
import LMScoreEngine
import LMScoreTokenizer

/// The response body of `/score` and `lmscore score`:
/// `{"model": …, "results": [row…], "batch": {scored_tokens, loss, perplexity, mean_perplexity}}`;
/// for `choices`, one result per group: `{"continuations": [row…], "best": index}`.
public struct ScoreResponse: Encodable {
    public let model: String
    /// The reference model's name, when the call compared two (ScoreResponse+Comparison.swift).
    public let reference: String?
    public let results: [Result]
    public let batch: Batch

    /// `tokenizer` is needed when the call asks for `return_tokens`.
    public init(model: String, result: ScoringResult, call: ScoreCall, tokenizer: (any TextTokenizer)? = nil) {
        self.model = model
        reference = result.comparison == nil ? nil : call.reference
        var rows = result.rows.map { Row($0, topK: call.request.topK, probabilities: call.includeProbabilities) }
        for r in rows.indices {
            rows[r].statistics = call.request.statistics
            rows[r].comparison = result.comparison?.rows[r]
        }
        if call.fromTexts, case .sequences(let sequences) = call.request.rows {
            for (r, sequence) in sequences.enumerated() { rows[r].tokenIDs = sequence }
        }
        for (r, size) in call.textSizes.enumerated() where r < rows.count {
            rows[r].textSize = size
        }
        if call.returnTokens, let tokenizer, case .sequences(let sequences) = call.request.rows {
            for (r, sequence) in sequences.enumerated() {
                let bytes = sequence.map { tokenizer.tokenBytes($0) ?? [] }
                rows[r].tokens = (bytes.map(TokenText.string), TokenText.codePointOffsets(bytes))
            }
        }
        if case .choices(let groups) = call.request.rows {
            var next = 0
            results = groups.map { group in
                defer { next += group.continuations.count }
                return .group(Group(continuations: Array(rows[next ..< next + group.continuations.count])))
            }
        } else {
            results = rows.map { .row($0) }
        }
        var batch = Batch(result.batch, texts: call.textSizes.isEmpty ? nil : zip(result.rows, call.textSizes).map { ($0, $1) })
        batch.kld = result.comparison?.summary
        batch.compared = result.comparison != nil
        self.batch = batch
    }

    public enum Result: Encodable {
        case row(Row)
        case group(Group)

        public func encode(to encoder: Encoder) throws {
            switch self {
            case .row(let row): try row.encode(to: encoder)
            case .group(let group): try group.encode(to: encoder)
            }
        }
    }

    /// One multiple-choice group: its continuations' rows and the index of the most likely one
    /// (highest `sum_logprob`, the first on ties: lm-eval's `acc`).
    public struct Group: Encodable {
        let continuations: [Row]
        var best: Int {
            continuations.indices.max { a, b in
                (continuations[a].sumLogprob, b) < (continuations[b].sumLogprob, a)
            } ?? 0
        }

        enum CodingKeys: String, CodingKey { case continuations, best }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(continuations, forKey: .continuations)
            try c.encode(best, forKey: .best)
        }
    }

    public func jsonData(pretty: Bool = false) -> Data {
        let encoder = JSONEncoder.scores
        if pretty { encoder.outputFormatting.insert(.prettyPrinted) }
        return (try? encoder.encode(self)) ?? Data()
    }

    /// One request row. Per-position arrays are aligned with the request row and hold null where
    /// nothing is scored.
    public struct Row: Encodable {
        let positions: [TokenScore?]
        let topK: Int
        let probabilities: Bool
        let scoredTokens: Int
        let sumLogprob: Double
        let loss: Double?
        let perplexity: Double?
        let isGreedy: Bool
        let windows: Int
        /// Each token's text and its start in the row's text (code points), when asked for.
        var tokens: (strings: [String], offsets: [Int])?
        /// The ids scored, for rows given as text (BOS included).
        var tokenIDs: [Int32]?
        /// The text's bytes and words, for rows given as text: adds lm-eval's per-text metrics.
        var textSize: TextSize?
        /// Per-position statistics asked for (`entropy`, `rank`).
        var statistics: PositionStatistics = []
        /// With a reference: the two-model numbers of this row.
        var comparison: RowComparison?

        init(_ row: RowScore, topK: Int, probabilities: Bool) {
            positions = row.positions
            self.topK = topK
            self.probabilities = probabilities
            scoredTokens = row.scoredTokens
            sumLogprob = row.sumLogprob
            loss = row.loss
            perplexity = row.perplexity
            isGreedy = row.isGreedy
            windows = row.windows
        }

        enum CodingKeys: String, CodingKey {
            case token_ids, logprobs, greedy, top, probs, scored_tokens, sum_logprob, loss, perplexity, is_greedy, windows, tokens, text_offset
            case bytes, words, bits_per_byte, byte_perplexity, word_perplexity
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            if let tokenIDs { try c.encode(tokenIDs, forKey: .token_ids) }
            try c.encode(positions.map { $0?.logprob }, forKey: .logprobs)
            try c.encode(positions.map { $0?.isGreedy }, forKey: .greedy)
            if topK > 0 { try c.encode(positions.map { $0.map { $0.top.map(TopEntry.init) } }, forKey: .top) }
            if probabilities { try c.encode(positions.map { $0.map { Foundation.exp($0.logprob) } }, forKey: .probs) }
            try c.encode(scoredTokens, forKey: .scored_tokens)
            try c.encode(sumLogprob, forKey: .sum_logprob)
            try c.encode(loss, forKey: .loss)
            try c.encode(perplexity, forKey: .perplexity)
            try c.encode(isGreedy, forKey: .is_greedy)
            try c.encode(windows, forKey: .windows)
            if let tokens {
                try c.encode(tokens.strings, forKey: .tokens)
                try c.encode(tokens.offsets, forKey: .text_offset)
            }
            if let textSize {
                try c.encode(textSize.bytes, forKey: .bytes)
                try c.encode(textSize.words, forKey: .words)
                let metrics = TextMetrics(sumLogprob: sumLogprob, scoredTokens: scoredTokens, size: textSize)
                try c.encode(metrics?.bitsPerByte, forKey: .bits_per_byte)
                try c.encode(metrics?.bytePerplexity, forKey: .byte_perplexity)
                try c.encode(metrics?.wordPerplexity, forKey: .word_perplexity)
            }
            try encodeStatisticsAndComparison(to: encoder)
        }
    }

    /// `[token_id, logprob]`
    struct TopEntry: Encodable {
        let token: TopToken
        init(_ token: TopToken) { self.token = token }
        func encode(to encoder: Encoder) throws {
            var c = encoder.unkeyedContainer()
            try c.encode(token.id)
            try c.encode(token.logprob)
        }
    }

    public struct Batch: Encodable {
        let scoredTokens: Int
        let loss: Double?
        let perplexity: Double?
        let meanPerplexity: Double?
        /// For `texts`: lm-eval's corpus-level metrics (Σ log p and bytes/words summed over the rows that
        /// score a token, as lm-eval's weighted aggregation sums over documents); nil in the tuple when
        /// no row scores one.
        let textMetrics: TextMetrics??
        /// With a reference: llama.cpp's KL-divergence summary (nil when nothing was scored).
        var kld: KLDSummary?
        var compared = false

        /// `texts`: each row with its text's size (nil when the rows are not texts).
        init(_ batch: BatchScore, texts: [(RowScore, TextSize)]? = nil) {
            scoredTokens = batch.scoredTokens
            loss = batch.loss
            perplexity = batch.perplexity
            meanPerplexity = batch.meanPerplexity
            textMetrics = texts.map { texts in
                let scored = texts.filter { $0.0.scoredTokens > 0 }
                // Summed in Double in row order, like the rows' own sums.
                let sum = scored.reduce(0.0) { $0 + $1.0.sumLogprob }
                let size = (bytes: scored.reduce(0) { $0 + $1.1.bytes }, words: scored.reduce(0) { $0 + $1.1.words })
                return TextMetrics(sumLogprob: sum, scoredTokens: scored.reduce(0) { $0 + $1.0.scoredTokens },
                                   size: TextSize(bytes: size.bytes, words: size.words))
            }
        }

        enum CodingKeys: String, CodingKey {
            case scored_tokens, loss, perplexity, mean_perplexity, bits_per_byte, byte_perplexity, word_perplexity
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(scoredTokens, forKey: .scored_tokens)
            try c.encode(loss, forKey: .loss)
            try c.encode(perplexity, forKey: .perplexity)
            try c.encode(meanPerplexity, forKey: .mean_perplexity)
            if let textMetrics {
                try c.encode(textMetrics?.bitsPerByte, forKey: .bits_per_byte)
                try c.encode(textMetrics?.bytePerplexity, forKey: .byte_perplexity)
                try c.encode(textMetrics?.wordPerplexity, forKey: .word_perplexity)
            }
            if compared { try encodeKLD(to: encoder) }
        }
    }
}
