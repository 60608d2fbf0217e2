import ClipCap

/// The decoding options of `POST /v1/captions`, from its query string. Names, defaults and
/// rules are those of `clipcapctl caption` (`--decode`, `--num`, `--beams`, `--top-p`,
/// `--top-k`, `--temperature`, `--seed`, `--max-tokens`), so the same options give the same
/// captions.
struct CaptionQuery {
    /// Every accepted parameter; any other is a 400 (a typo must not silently change nothing).
    static let names: Set<String> = ["decode", "num", "beams", "top_p", "top_k", "temperature", "seed", "max_tokens"]

    /// Parses and checks the parameters against what the loaded model allows:
    /// `maxCandidates` beams or samples and `maxTokens` tokens (its `LoadOptions`).
    static func decodingOptions(_ query: [(name: String, value: String)], maxCandidates: Int, maxTokens: Int) throws(APIError) -> DecodingOptions {
        var values: [String: String] = [:]
        for (name, value) in query {
            guard names.contains(name) else {
                throw .badOption("unknown query parameter '\(name)'; accepted: \(names.sorted().joined(separator: ", "))")
            }
            guard values[name] == nil else { throw .badOption("query parameter '\(name)' is given twice; give it once") }
            values[name] = value
        }
        func int(_ name: String, _ fallback: Int) throws(APIError) -> Int {
            guard let text = values[name] else { return fallback }
            guard let v = Int(text) else { throw .badOption("\(name)=\(text) is not an integer") }
            return v
        }
        func double(_ name: String, _ fallback: Double) throws(APIError) -> Double {
            guard let text = values[name] else { return fallback }
            guard let v = Double(text), v.isFinite else { throw .badOption("\(name)=\(text) is not a finite number") }
            return v
        }
        let decode = values["decode"] ?? "greedy"
        let num = try int("num", 1), beams = try int("beams", 5), topK = try int("top_k", 0)
        let maxTokensAsked = try int("max_tokens", 30)
        let topP = try double("top_p", 1.0), temperature = try double("temperature", 1.0)
        var seed: UInt64 = 0
        if let text = values["seed"] {
            guard let v = UInt64(text) else { throw .badOption("seed=\(text) is not an integer from 0 to \(UInt64.max)") }
            seed = v
        }

        guard ["greedy", "beam", "sample"].contains(decode) else { throw .badOption("decode=\(decode): must be greedy, beam or sample") }
        guard num >= 1, beams >= 1, maxTokensAsked >= 1 else { throw .badOption("num, beams and max_tokens must be at least 1") }
        guard topK >= 0 else { throw .badOption("top_k must be 0 (off) or more") }
        guard temperature > 0 else { throw .badOption("temperature must be positive") }
        guard topP > 0 && topP <= 1 else { throw .badOption("top_p must be in (0, 1]") }
        if decode == "beam" && num > beams { throw .badOption("num (\(num)) cannot exceed beams (\(beams))") }
        let candidates = decode == "beam" ? beams : (decode == "sample" ? num : 1)
        guard candidates <= maxCandidates else {
            throw .badOption("\(decode == "beam" ? "beams" : "num")=\(candidates) is over this server's limit of \(maxCandidates) candidates per image (--max-candidates)")
        }
        guard maxTokensAsked <= maxTokens else {
            throw .badOption("max_tokens=\(maxTokensAsked) is over this server's limit of \(maxTokens) (--max-tokens-limit)")
        }

        var options = DecodingOptions()
        switch decode {
        case "beam": options.strategy = .beam(width: beams)
        case "sample": options.strategy = .sample
        default: options.strategy = .greedy
        }
        options.numCandidates = num
        options.topP = topP
        options.topK = topK
        options.temperature = temperature
        options.seed = seed
        options.maxTokens = maxTokensAsked
        return options
    }
}
