// swift-tools-version: 6.0
import PackageDescription

// No unsafe flags anywhere: SwiftPM refuses a versioned dependency that has them, and a target
// CPU would tie the build to one. The SIMD loops live in the C targets below, each variant with
// its own `__attribute__((target(...)))`, chosen at run time by CCPUFeatures (docs/BACKENDS.md).
// Linux only (OpenBLAS, libzstd, libpng and libjpeg from the distribution): SwiftPM has no
// Linux entry for `platforms`, and no Apple platform is declared because none is built or tested.

let package = Package(
    name: "clipcap",
    products: [
        .executable(name: "clipcapctl", targets: ["clipcapctl"]),
        /// The embeddable engine: `import ClipCap` re-exports `Engine` and registers the built-in backends.
        .library(name: "ClipCap", targets: ["ClipCap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The HTTP service (Sources/Server, docs/SERVE.md).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        // Tests only: reads docs/openapi.yaml to check the server's answers against it.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: system-library shims
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG",
                       providers: [.apt(["libjpeg-dev"])]),
        /// WebDataset tar shards are read with libarchive, streaming (docs/SCALE.md).
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        /// libjpeg's default error handler calls exit(); this C shim turns errors into codes via setjmp.
        .target(name: "CImageShim", dependencies: ["CJPEG", "CPNG"], path: "Sources/CImageShim",
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        /// Which instruction-set level (portable / AVX2+FMA / AVX-512) the C kernels run, detected once.
        .target(name: "CCPUFeatures", path: "Sources/CCPUFeatures"),
        /// Activations, layer norm, softmax and exp loops, compiled per level from one C source.
        .target(name: "CVectorKernels", dependencies: ["CCPUFeatures"], path: "Sources/CVectorKernels"),
        /// int8 micro-kernels (VNNI / AVX2 / portable): Swift's SIMD integer types cannot reach vpmaddubsw.
        .target(name: "CInt8Kernels", dependencies: ["CCPUFeatures"], path: "Sources/CInt8Kernels"),
        /// CRC32C for the model format: SSE4.2 chosen per function at run time, portable elsewhere.
        .target(name: "CChecksum", path: "Sources/CChecksum"),
        /// AVX-512 few-row float products (batched decode) that read each weight once for all rows.
        .target(name: "CFloatKernels", dependencies: ["CCPUFeatures", "CVectorKernels"], path: "Sources/CFloatKernels"),

        // MARK: formats
        .target(name: "CCMFormat", dependencies: ["CZstd", "CChecksum"], path: "Sources/Formats/CCM"),
        .target(name: "TorchFormats", dependencies: ["CCMFormat"], path: "Sources/Formats/Torch"),
        .target(name: "ImageIO", dependencies: ["CImageShim"], path: "Sources/Formats/Images"),
        .target(name: "ModelConverter", dependencies: ["CCMFormat", "TorchFormats", "Ops"],
                path: "Sources/Formats/Convert"),

        // MARK: engine
        /// The operator table (docs/OPS.md): each op's inputs, attributes, dtypes and symbolic shape
        /// rule, and the graph validator built on it, shared by the converter and the engine's load.
        .target(name: "Ops", dependencies: ["CCMFormat"], path: "Sources/Engine/Ops"),
        .target(name: "Tokenizers", dependencies: [], path: "Sources/Engine/Tokenizers"),
        .target(name: "Engine", dependencies: ["CCMFormat", "Ops", "Tokenizers", "ImageIO", "CVectorKernels"],
                path: "Sources/Engine/Runtime"),

        // MARK: backends (plugins: each registers itself with Engine's BackendRegistry)
        /// What the backends share (node labels, operand views, attention/slice/conv specs, shared
        /// copy kernels, vector activations), so that no backend target imports another.
        .target(name: "KernelSupport", dependencies: ["Engine", "CCMFormat", "CVectorKernels"], path: "Sources/Backends/Support"),
        .target(name: "NaiveBackend", dependencies: ["Engine", "KernelSupport"], path: "Sources/Backends/Naive"),
        .target(name: "BLASBackend", dependencies: ["Engine", "KernelSupport", "CBLAS", "CCPUFeatures", "CVectorKernels", "CFloatKernels"], path: "Sources/Backends/BLAS"),
        .target(name: "Int8Backend", dependencies: ["Engine", "KernelSupport", "CInt8Kernels"], path: "Sources/Backends/Int8"),
        .target(name: "ClipCap", dependencies: ["Engine", "NaiveBackend", "BLASBackend", "Int8Backend"],
                path: "Sources/Backends/Standard"),

        // MARK: bulk runs (inputs, shards, checkpoints, writers: docs/SCALE.md)
        .target(name: "BulkCaption", dependencies: ["Engine", "CArchive"], path: "Sources/Bulk"),

        // MARK: HTTP service (the engine never imports this: HTTP stays out of it)
        .target(name: "CaptionServer",
                dependencies: ["ClipCap", "ImageIO", "ModelConverter",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "MultipartKit", package: "multipart-kit")],
                path: "Sources/Server"),

        // MARK: command line
        .executableTarget(name: "clipcapctl",
                          dependencies: ["ClipCap", "ModelConverter", "BulkCaption", "CaptionServer",
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/clipcapctl"),

        // MARK: tests (fixtures live in Tests/Fixtures and are found relative to #filePath)
        /// Helpers the test targets share (seeded generator, SHA-256, crafted model files), defined once.
        .target(name: "TestSupport", dependencies: ["CCMFormat", "ModelConverter", "Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "FormatTests", dependencies: ["CCMFormat", "TestSupport"], path: "Tests/FormatTests"),
        .testTarget(name: "TorchTests", dependencies: ["TorchFormats", "TestSupport"], path: "Tests/TorchTests"),
        .testTarget(name: "ImageTests", dependencies: ["ImageIO", "TestSupport"], path: "Tests/ImageTests"),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizers"], path: "Tests/TokenizerTests"),
        .testTarget(name: "BackendTests", dependencies: ["ClipCap", "Engine", "KernelSupport", "NaiveBackend", "BLASBackend", "CCMFormat",
                                                    "CCPUFeatures", "CVectorKernels", "CFloatKernels"],
                    path: "Tests/BackendTests"),
        .testTarget(name: "EngineTests", dependencies: ["ClipCap", "ModelConverter", "Ops", "TestSupport"], path: "Tests/EngineTests"),
        .testTarget(name: "BulkTests", dependencies: ["BulkCaption", "Engine"], path: "Tests/BulkTests"),
        .testTarget(name: "ConverterTests", dependencies: ["ModelConverter", "CCMFormat", "Ops"],
                    path: "Tests/ConverterTests"),
        .testTarget(name: "Int8Tests", dependencies: ["ClipCap", "Int8Backend", "KernelSupport", "NaiveBackend", "BLASBackend", "Engine", "ImageIO", "CCMFormat", "ModelConverter", "CInt8Kernels", "CCPUFeatures"],
                    path: "Tests/Int8Tests"),
        /// The HTTP service over real loopback sockets, and `clipcapctl serve` as a subprocess (docs/SERVE.md).
        .testTarget(name: "ServerTests", dependencies: ["CaptionServer", "clipcapctl", "ClipCap", "ModelConverter",
                                                      .product(name: "Yams", package: "Yams")],
                    path: "Tests/ServerTests"),
        /// End-to-end: runs the built `clipcapctl` as a subprocess on hostile inputs (docs/ERRORS.md).
        .testTarget(name: "CLITests", dependencies: ["clipcapctl", "CCMFormat", "TestSupport"], path: "Tests/CLITests",
                    exclude: ["Fixtures"]),
    ]
)

/// Coverage-guided fuzz targets (docs/RELIABILITY.md, tools/fuzz.sh), outside the normal build:
/// they only exist with CLIPCAP_FUZZ=1 and are built with `-sanitize=fuzzer`.
if Context.environment["CLIPCAP_FUZZ"] == "1" {
    package.targets += [
        .target(name: "CFuzzDriver", path: "Fuzz/Driver"),
        .executableTarget(name: "FuzzModelFile", dependencies: ["CFuzzDriver", "CCMFormat", "Ops"], path: "Fuzz/ModelFile"),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["CFuzzDriver", "TorchFormats"], path: "Fuzz/Checkpoint"),
        .executableTarget(name: "FuzzImage", dependencies: ["CFuzzDriver", "ImageIO"], path: "Fuzz/Image"),
    ]
    package.products += ["FuzzModelFile", "FuzzCheckpoint", "FuzzImage"].map { .executable(name: $0, targets: [$0]) }
}
