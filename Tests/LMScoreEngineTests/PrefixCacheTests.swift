import Foundation
import LMScoreTestSupport
import Testing
@testable import LMScoreEngine

/// The prefix cache gives the same bits as no cache: every logprob, top-k list and greedy flag is
/// compared with `==` against a scorer without a cache scoring each request alone — cold, warm,
/// with answers asked again for other targets and larger k, packed in any order, and with a budget
/// so small that nodes are evicted between and within calls.
@Suite("Prefix cache")
struct PrefixCacheTests {
    /// Gemma 2: every other layer a sliding window of 4, logit soft-caps, post-norms.
    static let gemma2Tiny = try! ModelConfig(json: [
        "model_type": "gemma2", "vocab_size": 600, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 64, "sliding_window": 4,
        "query_pre_attn_scalar": 16, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
    ], path: "gemma2-tiny")

    /// Gemma 3: local (window 5) and global layers, q/k norms, soft-caps.
    static let gemma3Tiny = try! ModelConfig(json: [
        "model_type": "gemma3_text", "vocab_size": 500, "hidden_size": 32, "intermediate_size": 44, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 64, "sliding_window": 5,
        "sliding_window_pattern": 2, "attn_logit_softcapping": 20.0, "final_logit_softcapping": 15.0,
    ], path: "gemma3-tiny")

    /// Mistral: every layer a sliding window of 6.
    static let mistralTiny = try! ModelConfig(json: [
        "model_type": "mistral", "vocab_size": 700, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "sliding_window": 6, "tie_word_embeddings": false,
    ], path: "mistral-tiny")

    static let families: [ModelConfig] = [
        RandomCheckpoint.Preset.tinyGPT2Vocab.config, RandomCheckpoint.Preset.llamaTiny.config, RandomCheckpoint.Preset.neoxTiny.config,
        gemma2Tiny, gemma3Tiny, mistralTiny,
    ]

    func load(_ config: ModelConfig, dtype: TensorDType = .bf16) throws -> (DecoderModel, TemporaryDirectory) {
        let dir = try TemporaryDirectory()
        try makeCheckpoint(config, dtype: dtype, into: dir.url)
        return (try Checkpoint.load(directory: dir.url, context: 64), dir)
    }

    /// An evaluation's shapes on a 64-token context: few-shot prompts sharing a 24-token prefix (the
    /// shots run past every sliding window), each question's prompts sharing more, as lm-eval sends
    /// them to /v1/completions (top-1, a next-token prediction) and as `choices`; inputs/targets; a
    /// text longer than the context, scored in windows, that starts with the same prefix.
    func workload(vocab: Int) -> [ScoringRequest] {
        let shots = randomRows(count: 1, length: 24, vocab: vocab, seed: 11)[0]
        let questions = randomRows(count: 3, length: 8, vocab: vocab, seed: 12)
        let answers = [randomRows(count: 1, length: 1, vocab: vocab, seed: 13)[0], randomRows(count: 1, length: 2, vocab: vocab, seed: 14)[0],
                       randomRows(count: 1, length: 3, vocab: vocab, seed: 15)[0], randomRows(count: 1, length: 1, vocab: vocab, seed: 16)[0]]
        let prompts = questions.flatMap { q in answers.map { shots + q + $0 } }
        let long = shots + randomRows(count: 1, length: 126, vocab: vocab, seed: 17)[0]
        var targets = Array(prompts[1].dropFirst()) + [0]
        targets[3] = ScoringRequest.ignoredTarget
        return [
            ScoringRequest(rows: .sequences(Array(prompts[0..<8])), topK: 1, nextToken: true, sharedPrefixMinimum: 8),
            ScoringRequest(rows: .sequences(Array(prompts[4..<12])), topK: 2),
            ScoringRequest(rows: .choices([ChoiceGroup(context: shots + questions[2], continuations: answers),
                                           ChoiceGroup(context: shots + questions[0], continuations: answers)]), topK: 3),
            ScoringRequest(rows: .inputsTargets(inputs: [prompts[1]], targets: [targets])),
            ScoringRequest(rows: .sequences([long, prompts[2]]), topK: 1, stride: 16),
            ScoringRequest(rows: .sequences(Array(prompts[0..<4])), topK: 0, nextToken: true),
            ScoringRequest(rows: .sequences([shots + questions[1] + questions[2]]), topK: 5, nextToken: true),
        ]
    }

    @Test("cold, warm, larger k, packed in any order: the same bits as no cache", arguments: families)
    func sameBits(config: ModelConfig) throws {
        let (model, dir) = try load(config)
        defer { dir.remove() }
        let requests = workload(vocab: config.vocabSize)
        let plain = Scorer(model: model)
        let expected = try requests.map { try plain.score($0) }

        let cached = Scorer(model: model, prefixCacheBytes: 64 << 20)
        for (r, request) in requests.enumerated() {        // cold, one at a time: each reuses what came before
            #expect(try cached.score(request).rows == expected[r].rows, "request \(r) cold")
        }
        let afterCold = cached.prefixCache.statistics
        #expect(afterCold.hitTokens > 0 && afterCold.missTokens > 0 && afterCold.evictions == 0)
        for (r, result) in cached.score(batch: requests.reversed()).reversed().enumerated() {   // warm, packed, reversed
            #expect(result.rows == expected[r].rows, "request \(r) warm, packed")
        }
        let warm = cached.prefixCache.statistics
        #expect(warm.missTokens == afterCold.missTokens, "everything warm was cached")
        #expect(warm.hitTokens > afterCold.hitTokens)

        // The same positions asked for a larger k, then a smaller one: the larger is computed, the
        // smaller cut from it — each equal to the uncached answer.
        for k in [7, 4, 0] {
            for request in requests {
                var asked = request
                asked.topK = k
                #expect(try cached.score(asked).rows == plain.score(asked).rows, "top_k \(k)")
            }
        }
        // Statistics: cached answers without them are computed again, answers with both serve a request
        // for one (which gets only what it asked for), and every value equals the uncached one.
        for statistics: PositionStatistics in [[.entropy], [.entropy, .rank], [.rank], []] {
            for request in requests {
                var asked = request
                asked.statistics = statistics
                let rows = try cached.score(asked).rows
                #expect(try rows == plain.score(asked).rows, "statistics \(statistics.rawValue)")
                let positions = rows.flatMap(\.positions).compactMap { $0 }
                #expect(positions.allSatisfy { ($0.entropy != nil) == statistics.contains(.entropy) && ($0.rank != nil) == statistics.contains(.rank) })
            }
        }
    }

    @Test("a budget too small for the workload: evictions between and within calls, the same bits", arguments: [
        RandomCheckpoint.Preset.llamaTiny.config, gemma2Tiny, mistralTiny,
    ])
    func partlyEvicted(config: ModelConfig) throws {
        let (model, dir) = try load(config)
        defer { dir.remove() }
        let requests = workload(vocab: config.vocabSize)
        let plain = Scorer(model: model)
        let expected = try requests.map { try plain.score($0) }
        let probe = PrefixCache(budgetBytes: 1, config: model.config)
        let budget = 45 * probe.bytesPerToken
        let cached = Scorer(model: model, prefixCacheBytes: budget)
        for round in 0..<2 {
            for (r, request) in requests.enumerated() {
                #expect(try cached.score(request).rows == expected[r].rows, "round \(round), request \(r)")
                #expect(cached.prefixCache.statistics.bytes <= budget)
            }
            for (r, result) in cached.score(batch: requests).enumerated() {
                #expect(result.rows == expected[r].rows, "round \(round), request \(r) packed")
            }
        }
        let statistics = cached.prefixCache.statistics
        #expect(statistics.evictions > 0 && statistics.hitTokens > 0)
        #expect(statistics.bytes <= budget)
    }

    @Test("GPT-2 124M (FP32): an MMLU-shaped batch cold and warm, top-1 and a next token, equals no cache")
    func gpt2() throws {
        let (model, dir) = try load(RandomCheckpoint.Preset.gpt2.config, dtype: .f32)
        defer { dir.remove() }
        let shots = randomRows(count: 1, length: 40, vocab: 50257, seed: 21)[0]
        let prompts = randomRows(count: 2, length: 6, vocab: 50257, seed: 22).flatMap { q in
            randomRows(count: 4, length: 2, vocab: 50257, seed: 23).map { shots + q + $0 }
        }
        let request = ScoringRequest(rows: .sequences(prompts), topK: 1, nextToken: true, sharedPrefixMinimum: 8)
        let expected = try Scorer(model: model).score(request)
        let cached = Scorer(model: model, prefixCacheBytes: 256 << 20)
        #expect(try cached.score(request).rows == expected.rows)
        let cold = cached.prefixCache.statistics
        #expect(cold.missTokens == 40 + 2 * 6 + 8 * 2, "the shared tokens are computed once")
        #expect(try cached.score(request).rows == expected.rows)
        #expect(cached.prefixCache.statistics.missTokens == cold.missTokens)
    }

    @Test("bytes are counted exactly: blocks, token ids and answers")
    func exactBytes() throws {
        let (model, dir) = try load(RandomCheckpoint.Preset.llamaTiny.config)
        defer { dir.remove() }
        let cached = Scorer(model: model, prefixCacheBytes: 64 << 20)
        let c = model.config
        let perToken = (c.nLayer * 2 * c.keyValueWidth + c.nEmbd) * 4
        #expect(cached.prefixCache.bytesPerToken == perToken)
        let sequence = randomRows(count: 1, length: 20, vocab: c.vocabSize, seed: 31)[0]
        _ = try cached.score(ScoringRequest(rows: .sequences([sequence]), topK: 2))
        // 19 positions read (the last token predicts nothing), each with one answer of 2 top tokens.
        let answer = MemoryLayout<PrefixCache.Answer>.stride + 2 * MemoryLayout<TopToken>.stride
        #expect(cached.prefixCache.statistics.bytes == 19 * (perToken + 4 + answer))
        #expect(cached.prefixCache.statistics.nodes == 1)
        // A second sequence leaving the first after 10 tokens: the node is split, nothing counted twice.
        let other = Array(sequence.prefix(10)) + randomRows(count: 1, length: 5, vocab: c.vocabSize, seed: 32)[0]
        _ = try cached.score(ScoringRequest(rows: .sequences([other]), topK: 2))
        // New: positions 10..<14 (4 read); position 9 predicts another token now: a second answer there.
        #expect(cached.prefixCache.statistics.bytes == 23 * (perToken + 4) + 24 * answer)
        #expect(cached.prefixCache.statistics.nodes == 3)
    }

    @Test("least recently used leaves go first")
    func leastRecentlyUsed() throws {
        let (model, dir) = try load(RandomCheckpoint.Preset.llamaTiny.config)
        defer { dir.remove() }
        let probe = PrefixCache(budgetBytes: 1, config: model.config)
        let rows = randomRows(count: 3, length: 21, vocab: 1000, seed: 41)   // 20 positions read each
        let cached = Scorer(model: model, prefixCacheBytes: 45 * (probe.bytesPerToken + 4) + 60 * MemoryLayout<PrefixCache.Answer>.stride)
        func score(_ r: Int) throws -> PrefixCache.Statistics {
            let before = cached.prefixCache.statistics
            _ = try cached.score(ScoringRequest(rows: .sequences([rows[r]])))
            var after = cached.prefixCache.statistics
            after.hitTokens -= before.hitTokens
            after.missTokens -= before.missTokens
            return after
        }
        _ = try score(0)
        _ = try score(1)
        #expect(try score(0).hitTokens == 20)       // 0 is now more recent than 1
        let third = try score(2)                    // room for two: 1 goes
        #expect(third.evictions == 1 && third.missTokens == 20)
        #expect(try score(0).hitTokens == 20)
        #expect(try score(1).missTokens == 20)
    }

    @Test("a parent left without children is evicted in the same call, after the older leaves")
    func parentsFollowTheirLeaves() throws {
        let (model, dir) = try load(RandomCheckpoint.Preset.llamaTiny.config)
        defer { dir.remove() }
        let probe = PrefixCache(budgetBytes: 1, config: model.config)
        let rows = randomRows(count: 3, length: 31, vocab: 1000, seed: 43)
        let first = Array(rows[0].prefix(21))                          // 20 positions read
        let second = Array(first.prefix(10)) + Array(rows[1].prefix(11))   // shares 10 of them: a parent and two leaves
        let cached = Scorer(model: model, prefixCacheBytes: 35 * (probe.bytesPerToken + 4) + 80 * MemoryLayout<PrefixCache.Answer>.stride)
        _ = try cached.score(ScoringRequest(rows: .sequences([first])))
        _ = try cached.score(ScoringRequest(rows: .sequences([second])))
        #expect(cached.prefixCache.statistics.nodes == 3 && cached.prefixCache.statistics.evictions == 0)
        // 30 new positions: both leaves go, then their parent, childless now; nothing else fits beside them.
        _ = try cached.score(ScoringRequest(rows: .sequences([rows[2]])))
        #expect(cached.prefixCache.statistics.evictions == 3 && cached.prefixCache.statistics.nodes == 1)
        let before = cached.prefixCache.statistics
        _ = try cached.score(ScoringRequest(rows: .sequences([first])))
        #expect(cached.prefixCache.statistics.missTokens - before.missTokens == 20)
    }

    @Test("budget 0 keeps nothing and gives the same bits")
    func off() throws {
        let (model, dir) = try load(RandomCheckpoint.Preset.llamaTiny.config)
        defer { dir.remove() }
        let scorer = Scorer(model: model, prefixCacheBytes: 0)
        let requests = workload(vocab: 1000)
        let first = scorer.score(batch: requests)
        #expect(scorer.score(batch: requests) == first)
        let statistics = scorer.prefixCache.statistics
        #expect(statistics.bytes == 0 && statistics.nodes == 0 && statistics.hitTokens == 0)
        #expect(!scorer.prefixCache.isEnabled)
    }
}
