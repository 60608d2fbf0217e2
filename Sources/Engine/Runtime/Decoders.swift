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

    /// `--dump`: keeps row `row` of the raw logits of this step.
    static func record(_ logits: TensorView, row: Int, into capture: inout Intermediates?) {
        guard capture != nil else { return }
        let vocab = logits.shape.last
        let r = logits.shape[0] == 1 ? 0 : row
        capture!.logits.append(Array(UnsafeBufferPointer(start: logits.floats + r * vocab, count: vocab)))
    }

    static func makeCaption(_ ids: [Int], score: Double, config: PipelineConfig, tokenizer: any TextTokenizer) -> Caption {
        Caption(text: tokenizer.decode(ids), tokenIDs: ids, score: score)
    }

    // MARK: greedy

    static func greedy(stepper: inout DecoderStepper, options: DecodingOptions, config: PipelineConfig,
                       tokenizer: any TextTokenizer, capture: inout Intermediates?) throws -> [Caption] {
        var logits = stepper.prefillLogits()
        var ids: [Int] = []
        var score = 0.0
        var logProbs: [Float] = []
        let vocab = logits.shape.last
        let limit = min(options.maxTokens, stepper.remaining)
        var step = 0
        while true {
            record(logits, row: 0, into: &capture)
            logSoftmax(logits.floats, count: vocab, banned: bans(length: ids.count, options: options, config: config), temperature: 1, into: &logProbs)
            var best = 0
            for i in 1..<vocab where logProbs[i] > logProbs[best] { best = i }
            score += Double(logProbs[best])
            if isStop(best, config: config, tokenizer: tokenizer) {
                if keepsStopToken(best, config: config) { ids.append(best) }
                break
            }
            ids.append(best)
            step += 1
            if step >= limit { break }
            logits = try stepper.advance([best])
        }
        return [makeCaption(ids, score: score, config: config, tokenizer: tokenizer)]
    }

    // MARK: sampling

    static func sample(stepper: inout DecoderStepper, options: DecodingOptions, config: PipelineConfig,
                       tokenizer: any TextTokenizer, capture: inout Intermediates?) throws -> [Caption] {
        let n = max(1, options.numCandidates)
        var rng = SplitMix64(seed: options.seed)
        var sampler = TokenSampler(temperature: options.temperature, topK: options.topK, topP: options.topP)
        var logits = stepper.prefillLogits()
        let vocab = logits.shape.last
        var rows = [[Int]](repeating: [], count: n)
        var scores = [Double](repeating: 0, count: n)
        var done = [Bool](repeating: false, count: n)
        let limit = min(options.maxTokens, stepper.remaining)
        var logProbs: [Float] = []
        stepper.expand(to: n)
        var next = [Int](repeating: 0, count: n)
        for step in 0..<limit {
            if !done[0] { record(logits, row: 0, into: &capture) }
            for b in 0..<n where !done[b] {
                // After prefill there is one row of logits, shared by every candidate.
                let row = logits.shape[0] == 1 ? logits.floats : logits.floats + b * vocab
                logSoftmax(row, count: vocab, banned: bans(length: rows[b].count, options: options, config: config), temperature: 1, into: &logProbs)
                let token = sampler.pick(logProbs: logProbs, rng: &rng)
                scores[b] += Double(logProbs[token])
                next[b] = token
                if isStop(token, config: config, tokenizer: tokenizer) {
                    done[b] = true
                    if keepsStopToken(token, config: config) { rows[b].append(token) }
                } else {
                    rows[b].append(token)
                }
            }
            if done.allSatisfy({ $0 }) || step + 1 >= limit { break }
            logits = try stepper.advance(next)
        }
        return (0..<n).map { makeCaption(rows[$0], score: scores[$0], config: config, tokenizer: tokenizer) }
    }

    // MARK: beam search

    static func beam(stepper: inout DecoderStepper, width: Int, options: DecodingOptions, config: PipelineConfig,
                     tokenizer: any TextTokenizer, capture: inout Intermediates?) throws -> [Caption] {
        let beams = max(1, width)
        var logits = stepper.prefillLogits()
        let vocab = logits.shape.last
        var running: [(ids: [Int], score: Double)] = [([], 0)]
        var finished: [(ids: [Int], score: Double)] = []
        let limit = min(options.maxTokens, stepper.remaining)
        var logProbs: [Float] = []
        let penalty = options.lengthPenalty
        func normalised(_ sum: Double, _ length: Int) -> Double { sum / pow(Double(max(length, 1)), penalty) }

        for step in 0..<limit {
            // Candidates: the best 2·beams continuations over all running beams.
            var candidates: [(score: Double, parent: Int, token: Int)] = []
            record(logits, row: 0, into: &capture)
            for (b, beam) in running.enumerated() {
                let row = logits.shape[0] == 1 ? logits.floats : logits.floats + b * vocab
                logSoftmax(row, count: vocab, banned: bans(length: beam.ids.count, options: options, config: config), temperature: 1, into: &logProbs)
                for (token, lp) in TopK.select(logProbs, k: 2 * beams) {
                    candidates.append((beam.score + Double(lp), b, token))
                }
            }
            candidates.sort { $0.score > $1.score }
            var nextBeams: [(ids: [Int], score: Double)] = []
            var parents: [Int] = []
            for (rank, cand) in candidates.enumerated() {
                if isStop(cand.token, config: config, tokenizer: tokenizer) {
                    // As Hugging Face: a stop token only finishes a hypothesis from the top `beams` ranks.
                    if rank < beams {
                        var ids = running[cand.parent].ids
                        if keepsStopToken(cand.token, config: config) { ids.append(cand.token) }
                        finished.append((ids, normalised(cand.score, ids.count + (keepsStopToken(cand.token, config: config) ? 0 : 1))))
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
                let attainable = normalised(best.score, step + 1)
                if finished.last!.score >= attainable { running = []; break }
            }
            running = nextBeams
            if step + 1 >= limit || running.isEmpty { break }
            if step == 0 { stepper.expand(to: running.count) } else { stepper.reorder(parents) }
            logits = try stepper.advance(running.map { $0.ids.last! })
        }
        for beam in running { finished.append((beam.ids, normalised(beam.score, beam.ids.count))) }
        finished.sort { $0.score > $1.score }
        let n = min(max(1, options.numCandidates), finished.count)
        return finished.prefix(n).map { makeCaption($0.ids, score: $0.score, config: config, tokenizer: tokenizer) }
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
