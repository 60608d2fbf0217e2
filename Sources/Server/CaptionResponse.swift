import ClipCap

/// The 200 body of `POST /v1/captions` (docs/openapi.yaml, `CaptionResponse`): the fields of
/// `clipcapctl caption --json` for one image, plus how the server served it.
struct CaptionResponse: Encodable {
    struct Timings: Encodable {
        var decode_image: Double
        var preprocess: Double
        var image_encoder: Double
        var mapper: Double
        var prefill: Double
        var decode: Double
        var decode_steps: Int
        var ms_per_token: Double
        var total: Double
        /// Waiting in the queue for a batch.
        var queue_wait: Double
        /// The whole request: body read, image decode, queue, engine.
        var request: Double
    }

    /// The model answering: its file name and the SHA-256 of the file.
    struct Model: Encodable, Sendable {
        var file: String
        var sha256: String
        var backend: String
    }

    var id: String
    var captions: [String]
    var scores: [Double]
    var token_ids: [[Int]]
    var timings_ms: Timings
    var batch_size: Int
    var model: Model

    init(id: String, scheduled: ScheduledCaption, decodeImageMs: Double, requestMs: Double, model: Model) {
        let r = scheduled.result
        let t = r.timings
        self.id = id
        captions = r.captions.map(\.text)
        scores = r.captions.map(\.score)
        token_ids = r.captions.map(\.tokenIDs)
        timings_ms = Timings(decode_image: decodeImageMs, preprocess: t.preprocess, image_encoder: t.imageEncoder,
                             mapper: t.mapper, prefill: t.prefill, decode: t.decode, decode_steps: t.decodeSteps,
                             ms_per_token: t.msPerToken, total: t.total + decodeImageMs,
                             queue_wait: scheduled.queueWaitMs, request: requestMs)
        batch_size = scheduled.batchSize
        self.model = model
    }
}
