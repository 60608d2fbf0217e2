import Foundation

/// A parsed JSON object (a Hugging Face `config.json`, `tokenizer_config.json`, ...) with typed
/// accessors that return `nil` for absent or mistyped values instead of trapping.
struct JSONObject {
    let values: [String: Any]

    init(_ values: [String: Any] = [:]) { self.values = values }

    /// Reads and parses `path`; a missing file gives an empty object when `optional`.
    static func load(_ path: String, optional: Bool = false) throws -> JSONObject {
        guard FileManager.default.fileExists(atPath: path) else {
            if optional { return JSONObject() }
            throw ConvertError.badConfig(path: path, reason: "file not found; the folder must contain it")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConvertError.badConfig(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, path: path)
    }

    static func parse(_ data: Data, path: String) throws -> JSONObject {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw ConvertError.badConfig(path: path, reason: "not valid JSON (\(error.localizedDescription)); is it a JSON config file?")
        }
        guard let object = parsed as? [String: Any] else {
            throw ConvertError.badConfig(path: path, reason: "expected a JSON object at the top level")
        }
        return JSONObject(object)
    }

    func int(_ key: String) -> Int? {
        guard let n = values[key] as? NSNumber, !(values[key] is Bool) else { return nil }
        let d = n.doubleValue
        guard d.rounded() == d, abs(d) < 1e15 else { return nil }
        return Int(d)
    }

    func double(_ key: String) -> Double? {
        guard let n = values[key] as? NSNumber else { return nil }
        return n.doubleValue
    }

    func bool(_ key: String) -> Bool? { values[key] as? Bool }

    func string(_ key: String) -> String? { values[key] as? String }

    func doubles(_ key: String) -> [Double]? {
        guard let array = values[key] as? [Any] else { return nil }
        let numbers = array.compactMap { ($0 as? NSNumber)?.doubleValue }
        return numbers.count == array.count ? numbers : nil
    }

    func object(_ key: String) -> JSONObject? {
        (values[key] as? [String: Any]).map(JSONObject.init)
    }
}

/// Maps activation names used in Hugging Face configs to operator names (docs/OPS.md).
enum Activation {
    static func opName(forHF name: String) -> String? {
        switch name {
        case "quick_gelu": return "quick_gelu"
        case "gelu", "gelu_python": return "gelu_erf"
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return "gelu_tanh"
        case "relu": return "relu"
        case "tanh": return "tanh"
        default: return nil
        }
    }
}
