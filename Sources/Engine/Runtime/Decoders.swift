import Foundation
import Tokenizers

/// The decoding rules, over any model: greedy, beam search and sampling. They see logits and
/// token ids only.
enum Decoders {
    /// Whether generating `token` ends the caption (stop id, kept stop id, or its text contains a stop string).
    static func isStop(_ token: Int, config: PipelineConfig, tokenizer: any TextTokenizer) -> Bool {
        if config.stopTokenIDs.contains(token) || config.keptStopTokenIDs.contains(token) { return true }
        if !config.stopStrings.isEmpty {
            let text = tokenizer.decode([token])
            return config.stopStrings.contains { !$0.isEmpty && text.contains($0) }
        }
        return false
    }

    /// Whether a stop token belongs in the caption text ('.' does, [SEP] does not).
    static func keepsStopToken(_ token: Int, config: PipelineConfig) -> Bool {
        !config.stopTokenIDs.contains(token)
    }

    /// Log-softmax of one row into `out`, with banned ids at -infinity.
    static func logSoftmax(_ row: UnsafePointer<Float>, count: Int, banned: [Int], temperature: Float, into out: inout [Float]) {
        if out.count != count { out = [Float](repeating: 0, count: count) }
        out.withUnsafeMutableBufferPointer { buffer in
            guard let p = buffer.baseAddress, count > 0 else { return }
            if temperature == 1 {
                p.update(from: row, count: count)
            } else {
                for i in 0..<count { p[i] = row[i] / temperature }
            }
            for id in banned where id >= 0 && id < count { p[id] = -.infinity }
            var maxValue = -Float.infinity
            for i in 0..<count { maxValue = max(maxValue, p[i]) }
            // Vectorised exp (the vocabulary is 21,128 wide; a scalar expf per token per
            // candidate per step was most of the time outside the graphs when sampling).
            let sum = SIMDExp.expShifted(p, minus: maxValue, into: nil, count: count)
            let logSum = maxValue + Float(log(sum))
            for i in 0..<count { p[i] -= logSum }
        }
    }

    /// Ids banned at a step: the model's bans, plus its stop ids while the caption is shorter than `minTokens`.
    static func bans(length: Int, options: DecodingOptions, config: PipelineConfig) -> [Int] {
        length < options.minTokens ? config.bannedTokenIDs + config.stopTokenIDs.union(config.keptStopTokenIDs).sorted() : config.bannedTokenIDs
    }

    static func makeCaption(_ ids: [Int], score: Double, config: PipelineConfig, tokenizer: any TextTokenizer) -> Caption {
        Caption(text: tokenizer.decode(ids), tokenIDs: ids, score: score)
    }

    /// The program for `options`: `limit` is the most tokens the cache leaves room for.
    static func program(for options: DecodingOptions, config: PipelineConfig, tokenizer: any TextTokenizer,
                        room: Int) -> any CaptionProgram {
        let rules = Rules(options: options, config: config, tokenizer: tokenizer, limit: min(options.maxTokens, room))
        switch options.strategy {
        case .greedy: return GreedyProgram(rules: rules, capture: options.captureIntermediates)
        case .sample: return SampleProgram(rules: rules, capture: options.captureIntermediates)
        case .beam(let width): return BeamProgram(rules: rules, width: width, capture: options.captureIntermediates)
        }
    }

    /// What every program reads: the request's options, the model's stop and ban rules.
    struct Rules {
        let options: DecodingOptions
        let config: PipelineConfig
        let tokenizer: any TextTokenizer
        /// Most tokens this caption may take.
        let limit: Int

        func isStop(_ token: Int) -> Bool { Decoders.isStop(token, config: config, tokenizer: tokenizer) }
        func keeps(_ token: Int) -> Bool { Decoders.keepsStopToken(token, config: config) }
        func bans(_ length: Int) -> [Int] { Decoders.bans(length: length, options: options, config: config) }
        func caption(_ ids: [Int], _ score: Double) -> Caption { Decoders.makeCaption(ids, score: score, config: config, tokenizer: tokenizer) }
    }
}

/// What a caption program asks for after reading its logits.
enum ProgramStep {
    /// Feed one token per row (`tokens.count` rows, at most the program's `rows`); row `i`
    /// continues from row `parents[i]` (beam search), or in place when `parents` is nil.
    case feed(tokens: [Int], parents: [Int]?)
    /// The caption is done.
    case finished([Caption])
}

/// The decoding rules of one image as a state machine: it reads one logits row per decoder row
/// and says which tokens to feed next. The one-image path and the batched engine drive the
/// same programs, so captions cannot depend on what else is in the batch.
protocol CaptionProgram {
    /// Decoder rows the program uses at most (greedy 1, sampling its candidates, beam its width).
    var rows: Int { get }
    /// Reads the logits (`row(i)`: `vocab` floats of row `i`; after the prefill every row is
    /// the prefill's) and returns what comes next.
    mutating func advance(logits row: (Int) -> UnsafePointer<Float>, vocab: Int) -> ProgramStep
    /// Raw logits of row 0 at each step, when capture was asked for (greedy `--dump`).
    var capturedLogits: [[Float]] { get }
}

extension CaptionProgram {
    var capturedLogits: [[Float]] { [] }
}

/// Greedy: the most likely token at every step.
struct GreedyProgram: CaptionProgram {
    let rules: Decoders.Rules
    private var ids: [Int] = []
    private var score = 0.0
    private var logProbs: [Float] = []
    private(set) var capturedLogits: [[Float]] = []
    private let capture: Bool
    var rows: Int { 1 }

    init(rules: Decoders.Rules, capture: Bool) {
        self.rules = rules
        self.capture = capture
    }

    mutating func advance(logits row: (Int) -> UnsafePointer<Float>, vocab: Int) -> ProgramStep {
        let logits = row(0)
        if capture { capturedLogits.append(Array(UnsafeBufferPointer(start: logits, count: vocab))) }
        Decoders.logSoftmax(logits, count: vocab, banned: rules.bans(ids.count), temperature: 1, into: &logProbs)
        var best = 0
        for i in 1..<vocab where logProbs[i] > logProbs[best] { best = i }
        score += Double(logProbs[best])
        if rules.isStop(best) {
            if rules.keeps(best) { ids.append(best) }
            return .finished([rules.caption(ids, score)])
        }
        ids.append(best)
        if ids.count >= rules.limit { return .finished([rules.caption(ids, score)]) }
        return .feed(tokens: [best], parents: nil)
    }
}

/// Sampling: `numCandidates` rows, each drawing with temperature, top-k and top-p from one
/// generator seeded by the request (so the draws never depend on the batch).
struct SampleProgram: CaptionProgram {
    let rules: Decoders.Rules
    let rows: Int
    private var rng: SplitMix64
    private var sampler: TokenSampler
    private var ids: [[Int]]
    private var scores: [Double]
    private var done: [Bool]
    private var next: [Int]
    private var logProbs: [Float] = []
    private var step = 0
    private let capture: Bool
    private(set) var capturedLogits: [[Float]] = []

    init(rules: Decoders.Rules, capture: Bool = false) {
        self.rules = rules
        self.capture = capture
        let o = rules.options
        rows = max(1, o.numCandidates)
        rng = SplitMix64(seed: o.seed)
        sampler = TokenSampler(temperature: o.temperature, topK: o.topK, topP: o.topP)
        ids = [[Int]](repeating: [], count: rows)
        scores = [Double](repeating: 0, count: rows)
        done = [Bool](repeating: false, count: rows)
        next = [Int](repeating: 0, count: rows)
    }

    private func result() -> ProgramStep { .finished((0..<rows).map { rules.caption(ids[$0], scores[$0]) }) }

    mutating func advance(logits row: (Int) -> UnsafePointer<Float>, vocab: Int) -> ProgramStep {
        guard step < rules.limit else { return result() }
        if capture && !done[0] { capturedLogits.append(Array(UnsafeBufferPointer(start: row(0), count: vocab))) }
        for b in 0..<rows where !done[b] {
            Decoders.logSoftmax(row(b), count: vocab, banned: rules.bans(ids[b].count), temperature: 1, into: &logProbs)
            let token = sampler.pick(logProbs: logProbs, rng: &rng)
            scores[b] += Double(logProbs[token])
            next[b] = token
            if rules.isStop(token) {
                done[b] = true
                if rules.keeps(token) { ids[b].append(token) }
            } else {
                ids[b].append(token)
            }
        }
        if done.allSatisfy({ $0 }) || step + 1 >= rules.limit { return result() }
        step += 1
        return .feed(tokens: next, parents: nil)
    }
}

/// Beam search, scored like Hugging Face's (sum of log-probabilities / length^penalty).
struct BeamProgram: CaptionProgram {
    let rules: Decoders.Rules
    let rows: Int
    private var running: [(ids: [Int], score: Double)] = [([], 0)]
    private var finished: [(ids: [Int], score: Double)] = []
    private var logProbs: [Float] = []
    private var step = 0

    private let capture: Bool
    private(set) var capturedLogits: [[Float]] = []

    init(rules: Decoders.Rules, width: Int, capture: Bool = false) {
        self.rules = rules
        rows = max(1, width)
        self.capture = capture
    }

    private func normalised(_ sum: Double, _ length: Int) -> Double {
        sum / pow(Double(max(length, 1)), rules.options.lengthPenalty)
    }

    private mutating func result() -> ProgramStep {
        for beam in running { finished.append((beam.ids, normalised(beam.score, beam.ids.count))) }
        finished.sort { $0.score > $1.score }
        let n = min(max(1, rules.options.numCandidates), finished.count)
        return .finished(finished.prefix(n).map { rules.caption($0.ids, $0.score) })
    }

    mutating func advance(logits row: (Int) -> UnsafePointer<Float>, vocab: Int) -> ProgramStep {
        guard step < rules.limit else { return result() }
        let beams = rows
        if capture { capturedLogits.append(Array(UnsafeBufferPointer(start: row(0), count: vocab))) }
        // Candidates: the best 2·beams continuations over all running beams.
        var candidates: [(score: Double, parent: Int, token: Int)] = []
        for (b, beam) in running.enumerated() {
            Decoders.logSoftmax(row(b), count: vocab, banned: rules.bans(beam.ids.count), temperature: 1, into: &logProbs)
            for (token, lp) in TopK.select(logProbs, k: 2 * beams) {
                candidates.append((beam.score + Double(lp), b, token))
            }
        }
        candidates.sort { $0.score > $1.score }
        var nextBeams: [(ids: [Int], score: Double)] = []
        var parents: [Int] = []
        for (rank, cand) in candidates.enumerated() {
            if rules.isStop(cand.token) {
                // As Hugging Face: a stop token only finishes a hypothesis from the top `beams` ranks.
                if rank < beams {
                    var ids = running[cand.parent].ids
                    let kept = rules.keeps(cand.token)
                    if kept { ids.append(cand.token) }
                    finished.append((ids, normalised(cand.score, ids.count + (kept ? 0 : 1))))
                }
            } else {
                nextBeams.append((running[cand.parent].ids + [cand.token], cand.score))
                parents.append(cand.parent)
            }
            if nextBeams.count == beams { break }
        }
        finished.sort { $0.score > $1.score }
        if finished.count > beams { finished.removeLast(finished.count - beams) }
        // Done when no running beam can beat the worst kept hypothesis.
        if finished.count >= beams, let best = nextBeams.first {
            if finished.last!.score >= normalised(best.score, step + 1) { running = []; return result() }
        }
        running = nextBeams
        if step + 1 >= rules.limit || running.isEmpty { return result() }
        step += 1
        return .feed(tokens: running.map { $0.ids.last! }, parents: parents)
    }
}

/// The k largest entries of a row, best first.
enum TopK {
    static func select(_ values: [Float], k: Int) -> [(Int, Float)] {
        var best: [(Int, Float)] = []
        best.reserveCapacity(k + 1)
        for (i, v) in values.enumerated() where v > -.infinity {
            if best.count < k || v > best[best.count - 1].1 {
                var pos = best.count
                while pos > 0 && best[pos - 1].1 < v { pos -= 1 }
                best.insert((i, v), at: pos)
                if best.count > k { best.removeLast() }
            }
        }
        return best
    }
}
