import Foundation

/// The set of backends this process knows. Backends are plugins: a backend target registers
/// itself here (`BackendRegistry.shared.register(MyBackend())`) and nothing in `Engine` names it.
public final class BackendRegistry: @unchecked Sendable {
    public static let shared = BackendRegistry()

    private let lock = NSLock()
    private var backends: [any Backend] = []

    public init() {}

    /// Adds a backend; a later registration with the same name replaces the earlier one.
    public func register(_ backend: any Backend) {
        lock.lock(); defer { lock.unlock() }
        backends.removeAll { $0.name == backend.name }
        backends.append(backend)
    }

    /// The backend called `name`, if registered.
    public func backend(named name: String) -> (any Backend)? {
        lock.lock(); defer { lock.unlock() }
        return backends.first { $0.name == name }
    }

    /// All registered backends, in registration order.
    public var all: [any Backend] {
        lock.lock(); defer { lock.unlock() }
        return backends
    }
}
