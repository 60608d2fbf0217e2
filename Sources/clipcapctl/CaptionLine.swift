import ClipCap
import Foundation

/// The one JSON object per image that every captioning command prints (`caption --json`, and
/// the bulk and serving paths): the keys docs/JSON.md documents, built in one place.
///
/// Every line carries `file`, `status` ("ok" or "error"), `model`, `backend` and `decoding`;
/// an ok line adds `captions`, `token_ids`, `scores`, `decode_steps` and `timings_ms` (and
/// `warnings` when there are any); an error line adds `error`.
struct CaptionLine {
    /// The model file as given on the command line.
    var model: String
    /// The backend that ran (after `auto` was resolved).
    var backend: String
    /// The decoding settings in force, as `decodingObject` words them.
    var decoding: [String: Any]

    init(model: String, backend: String, decoding: DecodingOptions) {
        self.model = model
        self.backend = backend
        self.decoding = Self.decodingObject(decoding)
    }

    /// The line for a captioned image.
    func ok(file: String, result: CaptionResult) -> [String: Any] {
        let t = result.timings
        var line = common(file: file, status: "ok")
        line["captions"] = result.captions.map(\.text)
        line["token_ids"] = result.captions.map(\.tokenIDs)
        line["scores"] = result.captions.map(\.score)
        line["decode_steps"] = t.decodeSteps
        if !result.warnings.isEmpty { line["warnings"] = result.warnings }
        line["timings_ms"] = ["decode_image": t.decodeImage, "preprocess": t.preprocess, "image_encoder": t.imageEncoder,
                              "mapper": t.mapper, "prefill": t.prefill, "decode": t.decode,
                              "ms_per_token": t.msPerToken, "total": t.total]
        return line
    }

    /// The line for an image that could not be captioned; `message` names the file.
    func error(file: String, message: String) -> [String: Any] {
        var line = common(file: file, status: "error")
        line["error"] = message
        return line
    }

    private func common(file: String, status: String) -> [String: Any] {
        ["file": file, "status": status, "model": model, "backend": backend, "decoding": decoding]
    }

    /// `{"strategy": ..., "max_tokens": ..., "num": ...}` plus the settings the strategy uses:
    /// `beams` for beam search; `temperature`, `top_k`, `top_p` and `seed` for sampling.
    static func decodingObject(_ d: DecodingOptions) -> [String: Any] {
        var object: [String: Any] = ["max_tokens": d.maxTokens, "num": d.numCandidates]
        switch d.strategy {
        case .greedy:
            object["strategy"] = "greedy"
        case .beam(let width):
            object["strategy"] = "beam"
            object["beams"] = width
            object["length_penalty"] = d.lengthPenalty
        case .sample:
            object["strategy"] = "sample"
            object["temperature"] = d.temperature
            object["top_k"] = d.topK
            object["top_p"] = d.topP
            object["seed"] = d.seed
        }
        return object
    }
}
