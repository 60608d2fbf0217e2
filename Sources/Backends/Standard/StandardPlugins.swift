/// Backends beyond naive and blas that ship with clipcap; each registers itself here.
enum StandardPlugins {
    static func registerExtra() {}
}
