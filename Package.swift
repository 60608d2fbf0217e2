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
        /// AVX-512 few-row float products (batched decode) that read each weight once for all rows.
        .target(name: "CFloatKernels", dependencies: ["CCPUFeatures", "CVectorKernels"], path: "Sources/CFloatKernels"),

        // MARK: formats
        .target(name: "CCMFormat", dependencies: ["CZstd"], path: "Sources/Formats/CCM"),
        .target(name: "TorchFormats", dependencies: ["CCMFormat"], path: "Sources/Formats/Torch"),
        .target(name: "ImageIO", dependencies: ["CImageShim"], path: "Sources/Formats/Images"),
        .target(name: "ModelConverter", dependencies: ["CCMFormat", "TorchFormats"],
                path: "Sources/Formats/Convert"),

        // MARK: engine
        .target(name: "Tokenizers", dependencies: [], path: "Sources/Engine/Tokenizers"),
        .target(name: "Engine", dependencies: ["CCMFormat", "Tokenizers", "ImageIO", "CVectorKernels"],
                path: "Sources/Engine/Runtime"),

        // MARK: backends (plugins: each registers itself with Engine's BackendRegistry)
        .target(name: "NaiveBackend", dependencies: ["Engine"], path: "Sources/Backends/Naive"),
        .target(name: "BLASBackend", dependencies: ["Engine", "CBLAS", "CCPUFeatures", "CVectorKernels", "CFloatKernels", "NaiveBackend"], path: "Sources/Backends/BLAS"),
        .target(name: "Int8Backend", dependencies: ["Engine", "CInt8Kernels", "BLASBackend", "NaiveBackend"], path: "Sources/Backends/Int8"),
        .target(name: "ClipCap", dependencies: ["Engine", "NaiveBackend", "BLASBackend", "Int8Backend"],
                path: "Sources/Backends/Standard"),

        // MARK: bulk runs (inputs, shards, checkpoints, writers: docs/SCALE.md)
        .target(name: "BulkCaption", dependencies: ["Engine", "CArchive"], path: "Sources/Bulk"),

        // MARK: command line
        .executableTarget(name: "clipcapctl",
                          dependencies: ["ClipCap", "ModelConverter", "BulkCaption",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/clipcapctl"),

        // MARK: tests (fixtures live in Tests/Fixtures and are found relative to #filePath)
        .testTarget(name: "FormatTests", dependencies: ["CCMFormat"], path: "Tests/FormatTests"),
        .testTarget(name: "TorchTests", dependencies: ["TorchFormats"], path: "Tests/TorchTests"),
        .testTarget(name: "ImageTests", dependencies: ["ImageIO"], path: "Tests/ImageTests"),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizers"], path: "Tests/TokenizerTests"),
        .testTarget(name: "BackendTests", dependencies: ["ClipCap", "Engine", "NaiveBackend", "BLASBackend", "CCMFormat",
                                                    "CCPUFeatures", "CVectorKernels"],
                    path: "Tests/BackendTests"),
        .testTarget(name: "EngineTests", dependencies: ["ClipCap", "ModelConverter"], path: "Tests/EngineTests"),
        .testTarget(name: "BulkTests", dependencies: ["BulkCaption", "Engine"], path: "Tests/BulkTests"),
        .testTarget(name: "ConverterTests", dependencies: ["ModelConverter", "CCMFormat"],
                    path: "Tests/ConverterTests"),
        .testTarget(name: "Int8Tests", dependencies: ["Int8Backend", "NaiveBackend", "BLASBackend", "Engine", "ImageIO", "CCMFormat", "ModelConverter", "CInt8Kernels", "CCPUFeatures"],
                    path: "Tests/Int8Tests"),
        /// End-to-end: runs the built `clipcapctl` as a subprocess on hostile inputs (docs/ERRORS.md).
        .testTarget(name: "CLITests", dependencies: ["clipcapctl", "CCMFormat"], path: "Tests/CLITests",
                    exclude: ["Fixtures"]),
    ]
)

/// Coverage-guided fuzz targets (docs/RELIABILITY.md, tools/fuzz.sh), outside the normal build:
/// they only exist with CLIPCAP_FUZZ=1 and are built with `-sanitize=fuzzer`.
if Context.environment["CLIPCAP_FUZZ"] == "1" {
    package.targets += [
        .target(name: "CFuzzDriver", path: "Fuzz/Driver"),
        .executableTarget(name: "FuzzModelFile", dependencies: ["CFuzzDriver", "CCMFormat"], path: "Fuzz/ModelFile"),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["CFuzzDriver", "TorchFormats"], path: "Fuzz/Checkpoint"),
        .executableTarget(name: "FuzzImage", dependencies: ["CFuzzDriver", "ImageIO"], path: "Fuzz/Image"),
    ]
    package.products += ["FuzzModelFile", "FuzzCheckpoint", "FuzzImage"].map { .executable(name: $0, targets: [$0]) }
}
