import Foundation
import XCTest
import Yams

/// deploy/kubernetes/clipcap-serve.yaml stays true to the server: its probes hit the server's
/// probe routes and every flag it passes is one `clipcapctl serve` accepts.
final class DeployManifestTests: XCTestCase {
    func testKubernetesManifestMatchesTheServer() throws {
        let text = try String(contentsOfFile: ServerFixtures.path("deploy/kubernetes/clipcap-serve.yaml"), encoding: .utf8)
        let documents = try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
        XCTAssertEqual(Set(documents.compactMap { $0["kind"] as? String }), ["Deployment", "Service"])
        let deployment = try XCTUnwrap(documents.first { $0["kind"] as? String == "Deployment" })
        let pod = ((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
        let container = try XCTUnwrap((pod?["containers"] as? [[String: Any]])?.first)
        func probePath(_ name: String) -> String? {
            ((container[name] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String
        }
        XCTAssertEqual(probePath("readinessProbe"), "/readyz")
        XCTAssertEqual(probePath("livenessProbe"), "/healthz")
        let resources = container["resources"] as? [String: Any]
        XCTAssertNotNil(resources?["limits"], "the container needs resource limits")
        XCTAssertNotNil(resources?["requests"])

        let args = try XCTUnwrap(container["args"] as? [String])
        XCTAssertEqual(args.first, "serve")
        let help = try serveHelp()
        for flag in args.dropFirst().map({ String($0.split(separator: "=")[0]) }) {
            XCTAssertTrue(help.contains(flag + " ") || help.contains(flag + "\n") || help.contains(flag + ","), "serve has no option \(flag)")
        }
        // The grace period must outlast the drain.
        let drain = args.first { $0.hasPrefix("--drain-timeout=") }.flatMap { Int($0.split(separator: "=")[1]) } ?? 30
        XCTAssertGreaterThan(pod?["terminationGracePeriodSeconds"] as? Int ?? 30, drain)
    }

    private func serveHelp() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CLIBinary.require())
        process.arguments = ["serve", "--help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }
}
