import CVectorKernels

extension LinearActivation {
    /// The activation's code for `cvk_activation_rows` (CVectorKernels), whose per-CPU variants
    /// (AVX-512, AVX2+FMA, portable) run the exp/tanh/erf polynomials at full vector width.
    public var vectorKernelCode: Int32 {
        switch self {
        case .none: return Int32(CVK_ACTIVATION_NONE)
        case .relu: return Int32(CVK_ACTIVATION_RELU)
        case .tanh: return Int32(CVK_ACTIVATION_TANH)
        case .quickGelu: return Int32(CVK_ACTIVATION_QUICK_GELU)
        case .geluTanh: return Int32(CVK_ACTIVATION_GELU_TANH)
        case .geluErf: return Int32(CVK_ACTIVATION_GELU_ERF)
        }
    }
}
