import Foundation

/// One forward pass planned as a tree of token paths: every segment of the pass is a path of tokens
/// from position 0 (a continuation's path is its context's tokens, then its own). Paths are merged
/// into a radix tree (`PassNode`), so tokens several rows share — across requests too — are computed
/// once; each tree node is matched against the prefix cache, and only what the cache lacks becomes a
/// forward row, continuing the cached keys/values and its parent rows. New rows are stored in the
/// cache, and every answer the LM head gives for a cached position is kept with it.
extension Scorer {
    /// `statistics`: what each request (by index) asks of its positions besides the log-prob.
    func runPass(_ units: [Unit], statistics: [PositionStatistics]) -> [(Target, TokenScore)] {
        let cache = prefixCache
        cache.beginPass()

        // 1. Each segment as a path from position 0; `start`: where its own inputs begin.
        var paths: [(tokens: [Int32], start: Int)] = []
        for unit in units {
            for segment in unit.segments {
                let context = segment.prefix.map { Array(unit.segments[$0].inputs) } ?? []
                paths.append((context + segment.inputs, context.count))
            }
        }
        let tree = PassNode(tokens: [], depth: 0)
        for path in paths { tree.insert(path.tokens[...]) }
        // Nodes are split where a path leaves them before anything is matched (a split moves positions).
        for path in paths { cache.splitWhereDiverging(path.tokens[...]) }

        // 2. Forward rows for what the cache lacks, parents before children.
        var plan = PassPlan(cache: cache)
        for child in tree.children { plan.visit(child, cursor: cache.start, context: [], attach: cache.root) }

        // 3. Every target's hidden state: a forward row's, or a cached position's (whose answer may be cached too).
        var wanted: [ScoredPosition] = []          // hidden rows of this pass
        var wantedStored: [(node: PrefixCache.Node, index: Int)?] = []   // where each is being stored
        var wantedCached: [(PrefixCache.Node, Int)] = []   // cached hidden states to score again
        var wantedCachedPositions: [ScoredPosition] = []
        var index: [AnswerKey: Slot] = [:]
        var answered: [TokenScore] = []
        var targets: [(Target, Slot)] = []
        var s = 0
        for unit in units {
            for segment in unit.segments {
                let (path, start) = paths[s]
                s += 1
                let nodes = tree.nodes(along: path[...])
                let asked = statistics[unit.request]
                for target in segment.targets {
                    let location = plan.locate(start + target.input, nodes: nodes)
                    let key = AnswerKey(location: location.key, token: target.token, topK: unit.topK, statistics: asked)
                    if let slot = index[key] {
                        targets.append((target, slot))
                        continue
                    }
                    let slot: Slot
                    switch location {
                    case .batch(let row, let stored):
                        wanted.append(ScoredPosition(hiddenRow: row, target: target.token, topK: unit.topK, statistics: asked))
                        wantedStored.append(stored)
                        slot = .head(wanted.count - 1)
                    case .cached(let node, let i):
                        if let score = cache.answer(node, i, target: target.token, topK: unit.topK, statistics: asked) {
                            answered.append(score)
                            slot = .answered(answered.count - 1)
                        } else {
                            wantedCached.append((node, i))
                            wantedCachedPositions.append(ScoredPosition(hiddenRow: wantedCached.count - 1, target: target.token,
                                                                        topK: unit.topK, statistics: asked))
                            slot = .cachedHead(wantedCached.count - 1)
                        }
                    }
                    index[key] = slot
                    targets.append((target, slot))
                }
            }
        }

        // 4. The forward pass (if anything is left to compute) and the LM head.
        var scores: [TokenScore] = []
        if !plan.batch.tokens.isEmpty {
            let hidden = model.forward(plan.batch, workspace: workspace, compute: compute)
            scores = head.score(hidden: hidden, positions: wanted, compute: compute)
            if workspace.capacity > 4 * maxTokensPerForward { workspace.shrink() }
        }
        let C = model.config.nEmbd
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: max(1, wantedCached.count * C))   // [cached rows, C]
        defer { gathered.deallocate() }
        for (i, (node, position)) in wantedCached.enumerated() {
            (gathered + i * C).update(from: node.block!.hidden + position * C, count: C)
        }
        let cachedScores = head.score(hidden: gathered, positions: wantedCachedPositions, compute: compute)

        // 5. Keep the new answers with their positions.
        for (i, stored) in wantedStored.enumerated() {
            guard let stored else { continue }
            cache.record(stored.node, stored.index, target: wanted[i].target, topK: wanted[i].topK, statistics: wanted[i].statistics,
                         score: scores[i])
        }
        for (i, (node, position)) in wantedCached.enumerated() {
            let asked = wantedCachedPositions[i]
            cache.record(node, position, target: asked.target, topK: asked.topK, statistics: asked.statistics, score: cachedScores[i])
        }
        cache.endPass(unpinning: plan.pinned, hitTokens: plan.hitTokens, missTokens: plan.batch.tokens.count)

        return targets.map { target, slot in
            switch slot {
            case .head(let i): (target, scores[i])
            case .cachedHead(let i): (target, cachedScores[i])
            case .answered(let i): (target, answered[i])
            }
        }
    }
}

/// Where a target's score comes from.
private enum Slot {
    case head(Int)          // `wanted`: a hidden row of this pass
    case cachedHead(Int)    // `wantedCached`: a cached hidden state through the LM head again
    case answered(Int)      // a cached answer
}

private struct AnswerKey: Hashable {
    enum Location: Hashable {
        case batch(Int)                     // hidden row of the pass
        case cached(ObjectIdentifier, Int)  // cache node, position in it
    }
    let location: Location
    let token: Int32
    let topK: Int
    let statistics: PositionStatistics
}

/// Where a path position's hidden state is.
private enum Location {
    /// Packed row `row` of the pass; the cache node and position it is being stored at, if any.
    case batch(row: Int, stored: (node: PrefixCache.Node, index: Int)?)
    case cached(PrefixCache.Node, Int)

    var key: AnswerKey.Location {
        switch self {
        case .batch(let row, _): .batch(row)
        case .cached(let node, let i): .cached(ObjectIdentifier(node), i)
        }
    }
}

/// The pass's forward rows, what each continues, and what the cache gives.
private struct PassPlan {
    let cache: PrefixCache
    var batch = ForwardBatch()
    var pinned: [PrefixCache.Node] = []
    var hitTokens = 0

    init(cache: PrefixCache) { self.cache = cache }

    /// Plans `node` and its subtree. `cursor`: where the cache's match stands at the node's start (nil
    /// once past what the cache holds); `context`: the spans a row starting there continues (when
    /// `cursor` is nil); `attach`: the cache node a new node may continue (nil: none can be stored).
    mutating func visit(_ node: PassNode, cursor: PrefixCache.Cursor?, context: [AttendedSpan], attach: PrefixCache.Node?) {
        var context = context
        var attach = attach
        if let cursor {
            let (pieces, end) = cache.match(node.tokens, from: cursor)
            node.cached = pieces
            node.cachedCount = pieces.reduce(0) { $0 + $1.range.count }
            for piece in pieces {
                cache.pin(piece.node)
                pinned.append(piece.node)
            }
            hitTokens += node.cachedCount
            if node.cachedCount == node.tokens.count {
                for child in node.children { visit(child, cursor: end, context: [], attach: nil) }
                return
            }
            context = cache.spans(upTo: end)
            attach = end.atEnd ? end.node : nil
        }
        let rest = node.tokens.dropFirst(node.cachedCount)
        let row = batch.append(rest, after: context)
        node.row = row
        var stored: PrefixCache.Node?
        if let attach, let new = cache.reserveChild(rest, of: attach) {
            stored = new
            pinned.append(new)
            batch.stores.append((row, new.block!))
        }
        node.stored = stored
        let continued = context + [.batch(batch.rows[row])]
        for child in node.children { visit(child, cursor: nil, context: continued, attach: stored) }
    }

    /// Where path position `p` is, given the pass nodes along the path.
    func locate(_ p: Int, nodes: [PassNode]) -> Location {
        let node = nodes.first { p < $0.depth + $0.tokens.count }!
        var o = p - node.depth
        if o < node.cachedCount {
            for piece in node.cached {
                if o < piece.range.count { return .cached(piece.node, piece.range.lowerBound + o) }
                o -= piece.range.count
            }
            preconditionFailure("cached positions cover cachedCount")
        }
        let i = o - node.cachedCount
        return .batch(row: batch.rows[node.row!].lowerBound + i, stored: node.stored.map { ($0, i) })
    }
}

/// A node of the pass's radix tree of token paths: positions depth..<depth + tokens.count.
private final class PassNode {
    private(set) var tokens: ArraySlice<Int32>
    let depth: Int
    /// In insertion order (rows are packed in this order; any order gives the same bits).
    private(set) var children: [PassNode] = []
    private var childByToken: [Int32: PassNode] = [:]
    // The plan: the first `cachedCount` tokens found in the cache (pieces of cache nodes), the rest
    // computed in forward row `row` and stored in cache node `stored`.
    var cached: [(node: PrefixCache.Node, range: Range<Int>)] = []
    var cachedCount = 0
    var row: Int?
    var stored: PrefixCache.Node?

    init(tokens: ArraySlice<Int32>, depth: Int) {
        self.tokens = tokens
        self.depth = depth
    }

    private func child(startingWith token: Int32) -> PassNode? { childByToken[token] }

    private func add(_ child: PassNode) {
        children.append(child)
        childByToken[child.tokens.first!] = child
    }

    /// Adds a path from position 0 (this is the root); afterwards the path ends at a node's end.
    func insert(_ path: ArraySlice<Int32>) {
        var node = self
        var i = path.startIndex
        while i < path.endIndex {
            guard let child = node.child(startingWith: path[i]) else {
                node.add(PassNode(tokens: path[i...], depth: i - path.startIndex))
                return
            }
            var common = 0
            let edge = child.tokens
            while common < edge.count, i + common < path.endIndex, edge[edge.startIndex + common] == path[i + common] { common += 1 }
            if common < edge.count { child.split(at: common) }
            node = child
            i += common
        }
    }

    /// The nodes a path inserted before runs through, in order.
    func nodes(along path: ArraySlice<Int32>) -> [PassNode] {
        var nodes: [PassNode] = []
        var node = self
        var i = path.startIndex
        while i < path.endIndex {
            node = node.child(startingWith: path[i])!
            nodes.append(node)
            i += node.tokens.count
        }
        return nodes
    }

    private func split(at j: Int) {
        let rest = PassNode(tokens: tokens.dropFirst(j), depth: depth + j)
        rest.children = children
        rest.childByToken = childByToken
        children = []
        childByToken = [:]
        tokens = tokens.prefix(j)
        add(rest)
    }
}
