import Foundation

/// One HTTP answer as a client on the wire saw it.
struct HTTPReply {
    var status: Int
    /// Header names lower-cased.
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    /// `error.code` of a JSON error body.
    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
}

struct HTTPClientError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A deliberately small HTTP/1.1 client over blocking POSIX sockets, so tests control every
/// byte on the wire: slow senders, bodies cut off mid-way, bodies streamed for as long as the
/// server reads. Each request uses its own connection (`Connection: close`).
final class LoopbackConnection {
    let fd: Int32

    /// Connects to 127.0.0.1:`port`; reads time out after `timeout` seconds.
    init(port: Int, timeout: Double = 120) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError("socket: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // A server that stops reading (after answering early) must not block a sender forever.
        var sendTimeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HTTPClientError("connect to port \(port): \(message)")
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes`; false once the peer has closed or reset the connection, or has
    /// not read for 10 s.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Sends a request head (`Connection: close` added).
    @discardableResult
    func sendHead(method: String, path: String, headers: [(String, String)]) -> Bool {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return send(text + "\r\n")
    }

    /// Closes the sending side only (the answer can still be read).
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until the server closes the connection and parses the answer.
    func readReply() throws -> HTTPReply {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { data.append(contentsOf: buffer[0..<n]); continue }
            if n == 0 || errno == ECONNRESET { break }
            if errno == EINTR { continue }
            throw HTTPClientError("recv: \(String(cString: strerror(errno))) after \(data.count) bytes")
        }
        return try Self.parse(data)
    }

    /// Whether an answer has started to arrive (non-blocking check).
    func hasReplyWaiting() -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) > 0
    }

    static func parse(_ data: [UInt8]) throws -> HTTPReply {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (0..<max(0, data.count - 3)).first(where: { Array(data[$0..<$0 + 4]) == separator }) else {
            throw HTTPClientError("no complete HTTP head in \(data.count) bytes: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        let lines = String(decoding: data[0..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw HTTPClientError("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(headEnd + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        else if let length = headers["content-length"].flatMap(Int.init), body.count > length { body = Array(body.prefix(length)) }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            guard let lineEnd = (i..<data.count - 1).first(where: { data[$0] == 13 && data[$0 + 1] == 10 }),
                  let size = Int(String(decoding: data[i..<lineEnd], as: UTF8.self).split(separator: ";")[0], radix: 16) else {
                throw HTTPClientError("bad chunked body")
            }
            if size == 0 { break }
            out.append(contentsOf: data[(lineEnd + 2)..<min(data.count, lineEnd + 2 + size)])
            i = lineEnd + 2 + size + 2
        }
        return out
    }
}

/// One-shot requests.
enum LoopbackHTTP {
    /// Sends a whole request and reads the answer.
    static func request(port: Int, method: String = "GET", path: String, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws -> HTTPReply {
        let connection = try LoopbackConnection(port: port)
        var all = headers
        if method != "GET" || !body.isEmpty { all.append(("Content-Length", String(body.count))) }
        connection.sendHead(method: method, path: path, headers: all)
        if !body.isEmpty { connection.send(body) }
        return try connection.readReply()
    }

    /// `POST /v1/captions` with raw image bytes.
    static func caption(port: Int, image: [UInt8], contentType: String = "image/jpeg", query: String = "",
                        headers: [(String, String)] = []) throws -> HTTPReply {
        try request(port: port, method: "POST", path: "/v1/captions" + (query.isEmpty ? "" : "?" + query),
                    headers: [("Content-Type", contentType)] + headers, body: image)
    }

    /// A multipart/form-data body with the given (name, filename, content type, bytes) parts.
    static func multipart(_ parts: [(name: String, filename: String?, type: String, bytes: [UInt8])], boundary: String) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"" }
            head += "\r\nContent-Type: \(part.type)\r\n\r\n"
            out += Array(head.utf8) + part.bytes + Array("\r\n".utf8)
        }
        out += Array("--\(boundary)--\r\n".utf8)
        return out
    }
}
