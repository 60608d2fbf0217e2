// swift-tools-version: 6.0
import PackageDescription

// A package that uses clipcap the way anyone else's would: a versioned dependency on the
// `ClipCap` library product. tools/check_consumer.sh (run by .ci/run) points it at a temporary
// tagged clone of this repository through CLIPCAP_GIT_URL, so no network is needed.
let clipcap = Context.environment["CLIPCAP_GIT_URL"] ?? "https://github.com/clipcap/clipcap.git"

let package = Package(
    name: "clipcap-consumer",
    dependencies: [
        .package(url: clipcap, from: "0.1.0"),
    ],
    targets: [
        .executableTarget(name: "CaptionExample",
                          dependencies: [.product(name: "ClipCap", package: "clipcap")],
                          path: "Sources/CaptionExample"),
    ]
)
