import Foundation
import XCTest
import Yams

/// docs/openapi.yaml is true: every answer the server gives (each route, each status) is
/// declared there, with the declared content type, headers and a body matching the schema.
final class OpenAPIConformanceTests: XCTestCase {
    private var spec: [String: Any] = [:]

    override func setUpWithError() throws {
        let text = try String(contentsOfFile: ServerFixtures.path("docs/openapi.yaml"), encoding: .utf8)
        spec = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], "docs/openapi.yaml is not a YAML mapping")
        XCTAssertTrue((spec["openapi"] as? String)?.hasPrefix("3.") ?? false, "not an OpenAPI 3 document")
    }

    func testEveryAnswerIsDeclaredAndMatchesItsSchema() throws {
        let server = try TestServer { $0.maxPixels = 200_000 }
        defer { server.stop() }
        let port = server.port
        let small = ServerFixtures.bytes(ServerFixtures.samples[5])  // 170x170
        let answers: [(method: String, path: String, reply: HTTPReply)] = [
            ("get", "/healthz", try LoopbackHTTP.request(port: port, path: "/healthz")),
            ("get", "/readyz", try LoopbackHTTP.request(port: port, path: "/readyz")),
            ("get", "/metrics", try LoopbackHTTP.request(port: port, path: "/metrics")),
            ("post", "/v1/captions", try LoopbackHTTP.caption(port: port, image: small)),
            ("post", "/v1/captions", try LoopbackHTTP.caption(port: port, image: small, query: "decode=beam&beams=3&num=2")),
            ("post", "/v1/captions", try LoopbackHTTP.caption(port: port, image: small, query: "decode=nope")),
            ("post", "/v1/captions", try LoopbackHTTP.caption(port: port, image: Array("x".utf8), contentType: "text/plain")),
            ("post", "/v1/captions", try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.image("bad/truncated_header.jpg")))),
            ("post", "/v1/captions", try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.samples[0]))),
            ("post", "/v1/captions", try oversized(port: port)),
        ]
        let statuses = Set(answers.map(\.reply.status))
        XCTAssertEqual(statuses, [200, 400, 413, 415, 422], "the requests above should cover these codes")
        for answer in answers { check(answer.method, answer.path, answer.reply) }

        let timeoutServer = try TestServer { $0.timeoutSeconds = 1e-9 }
        defer { timeoutServer.stop() }
        check("post", "/v1/captions", try LoopbackHTTP.caption(port: timeoutServer.port, image: small))
        let authServer = try TestServer { $0.bearerToken = "t0ken" }
        defer { authServer.stop() }
        check("post", "/v1/captions", try LoopbackHTTP.caption(port: authServer.port, image: small))
    }

    func testEveryQueryParameterIsDocumented() throws {
        let operation = try XCTUnwrap(((spec["paths"] as? [String: Any])?["/v1/captions"] as? [String: Any])?["post"] as? [String: Any])
        let names = Set(((operation["parameters"] as? [Any]) ?? []).compactMap { (resolve($0) as? [String: Any])?["name"] as? String })
        XCTAssertEqual(names, ["decode", "num", "beams", "top_p", "top_k", "temperature", "seed", "max_tokens"])
    }

    private func oversized(port: Int) throws -> HTTPReply {
        let connection = try LoopbackConnection(port: port)
        connection.sendHead(method: "POST", path: "/v1/captions", headers: [("Content-Type", "image/png"), ("Content-Length", String(1 << 30))])
        return try connection.readReply()
    }

    /// Checks one answer against the operation's declared responses.
    private func check(_ method: String, _ path: String, _ reply: HTTPReply, file: StaticString = #filePath, line: UInt = #line) {
        let context = "\(method.uppercased()) \(path) -> \(reply.status) \(reply.text.prefix(300))"
        guard let operation = ((spec["paths"] as? [String: Any])?[path] as? [String: Any])?[method] as? [String: Any],
              let responses = operation["responses"] as? [String: Any] else {
            return XCTFail("docs/openapi.yaml has no \(method) \(path)", file: file, line: line)
        }
        guard let declared = resolve(responses[String(reply.status)] ?? responses["default"] as Any) as? [String: Any] else {
            return XCTFail("status \(reply.status) is not declared: \(context)", file: file, line: line)
        }
        for (name, _) in (declared["headers"] as? [String: Any]) ?? [:] {
            XCTAssertNotNil(reply.headers[name.lowercased()], "declared header \(name) missing: \(context)", file: file, line: line)
        }
        guard let content = declared["content"] as? [String: Any] else { return }
        let type = reply.headers["content-type"]?.split(separator: ";").first.map(String.init) ?? ""
        guard let media = content[type] as? [String: Any] else {
            return XCTFail("content type \(type) not declared (declared: \(content.keys.sorted())): \(context)", file: file, line: line)
        }
        guard type == "application/json", let schema = media["schema"] else { return }
        guard let body = try? JSONSerialization.jsonObject(with: Data(reply.body)) else {
            return XCTFail("body is not JSON: \(context)", file: file, line: line)
        }
        for problem in validate(body, against: schema, at: "$") {
            XCTFail("\(problem): \(context)", file: file, line: line)
        }
    }

    /// Follows a local `$ref`.
    private func resolve(_ node: Any) -> Any? {
        guard let object = node as? [String: Any], let ref = object["$ref"] as? String else { return node }
        var current: Any? = spec
        for part in ref.dropFirst(2).split(separator: "/") { current = (current as? [String: Any])?[String(part)] }
        return current.flatMap(resolve)
    }

    /// The subset of JSON Schema the file uses: type, required, properties, items, enum, pattern, minimum.
    private func validate(_ value: Any, against node: Any, at path: String) -> [String] {
        guard let schema = resolve(node) as? [String: Any] else { return ["\(path): unresolvable schema"] }
        var problems: [String] = []
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return ["\(path): expected an object"] }
            for key in (schema["required"] as? [String]) ?? [] where object[key] == nil { problems.append("\(path).\(key): required, missing") }
            let properties = (schema["properties"] as? [String: Any]) ?? [:]
            for (key, sub) in properties { if let v = object[key] { problems += validate(v, against: sub, at: "\(path).\(key)") } }
            for key in object.keys where properties[key] == nil && !properties.isEmpty { problems.append("\(path).\(key): not in the schema") }
        case "array":
            guard let array = value as? [Any] else { return ["\(path): expected an array"] }
            if let items = schema["items"] { for (i, v) in array.enumerated() { problems += validate(v, against: items, at: "\(path)[\(i)]") } }
        case "string":
            guard let s = value as? String else { return ["\(path): expected a string"] }
            if let allowed = schema["enum"] as? [String], !allowed.contains(s) { problems.append("\(path): \(s) not in \(allowed)") }
            if let pattern = schema["pattern"] as? String, s.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): \(s) does not match \(pattern)")
            }
        case "integer":
            // (Not excluding Bool: on Linux a JSON 1 also casts to Bool, and no schema here has booleans.)
            guard let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded() else { return ["\(path): expected an integer"] }
            if let minimum = schema["minimum"] as? Int, n.intValue < minimum { problems.append("\(path): below \(minimum)") }
        case "number":
            guard value is NSNumber else { return ["\(path): expected a number"] }
        default:
            break
        }
        return problems
    }
}
