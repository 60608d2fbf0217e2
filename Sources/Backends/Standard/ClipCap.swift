@_exported import CCMFormat
@_exported import Engine
@_exported import ImageIO
import BLASBackend
import Int8Backend
import NaiveBackend

/// The embeddable engine: re-exports `Engine` (models, sessions, decoding), `ImageIO` (image
/// decoding) and `CCMFormat` (model files), and registers the built-in backends.
///
/// ```swift
/// import ClipCap
/// let model = try ClipCap.loadModel(path: "models/demo.ccm", options: LoadOptions(backend: "blas", threads: 2))
/// let result = try model.caption(imageAt: "photo.jpg", options: DecodingOptions(strategy: .beam(width: 3)))
/// print(result.captions[0].text)
/// ```
public enum ClipCap {
    /// The engine's version (semantic versioning; the git tag of a release is `v` + this).
    public static let version = "0.1.0"

    /// Registers `naive`, `blas` and `int8` with `BackendRegistry.shared`. Idempotent.
    public static func registerStandardBackends() {
        _ = registration
    }

    private static let registration: Void = {
        BackendRegistry.shared.register(NaiveBackend())
        BackendRegistry.shared.register(BLASBackend())
        BackendRegistry.shared.register(Int8Backend())
    }()

    /// Registers the built-in backends, then loads the model.
    public static func loadModel(path: String, options: LoadOptions = LoadOptions()) throws -> CaptionModel {
        registerStandardBackends()
        return try CaptionModel.load(path: path, options: options)
    }
}
