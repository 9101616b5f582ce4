import Foundation
import Formats

/// Elementwise functions as the engine evaluates them: the definition of each `UnaryFunction`.
struct Activation: Sendable {
    let function: UnaryFunction
    let alpha: Float
    let beta: Float

    /// Parameters default per function (docs/FORMAT.md §4.1.2).
    init(_ function: UnaryFunction, alpha: Double? = nil, beta: Double? = nil) {
        self.function = function
        switch function {
        case .leakyRelu: self.alpha = Float(alpha ?? 0.2); self.beta = 0
        case .elu: self.alpha = Float(alpha ?? 1); self.beta = 0
        case .hardSigmoid: self.alpha = Float(alpha ?? 1.0 / 6.0); self.beta = Float(beta ?? 0.5)
        case .relu: self.alpha = Float(alpha ?? 0); self.beta = Float(beta ?? 0)
        default: self.alpha = Float(alpha ?? 0); self.beta = Float(beta ?? 0)
        }
    }

    /// The fused activation of a conv/dense/binary node, or nil for none.
    init?(fusedIn node: Node) {
        guard let name = node.string("activation"), name != "linear", let f = UnaryFunction(rawValue: name) else { return nil }
        self.init(f, alpha: node.float("activation_alpha"), beta: node.float("activation_beta"))
    }

    @inline(__always)
    func callAsFunction(_ x: Float) -> Float {
        switch function {
        case .identity: return x
        case .relu:
            // relu with optional negative slope (alpha) and threshold (beta).
            return x > beta ? x : (alpha == 0 ? 0 : alpha * (x - beta))
        case .relu6: return min(max(x, 0), 6)
        case .leakyRelu: return x >= 0 ? x : alpha * x
        case .elu: return x > 0 ? x : alpha * (Foundation.exp(x) - 1)
        case .selu:
            let a: Float = 1.6732632423543772848170429916717, s: Float = 1.0507009873554804934193349852946
            return x > 0 ? s * x : s * a * (Foundation.exp(x) - 1)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .hardSigmoid: return min(max(alpha * x + beta, 0), 1)
        case .tanh: return Foundation.tanh(x)
        case .swish: return x / (1 + Foundation.exp(-x))
        case .hardSwish: return x * min(max(x + 3, 0), 6) / 6
        case .gelu: return 0.5 * x * (1 + Foundation.erf(x / Float(2).squareRoot()))
        case .geluTanh:
            let c = Float((2.0 / Double.pi).squareRoot())
            return 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
        case .softplus: return x > 20 ? x : Foundation.log1p(Foundation.exp(x))
        case .softsign: return x / (1 + abs(x))
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .sqrt: return x.squareRoot()
        case .rsqrt: return 1 / x.squareRoot()
        case .square: return x * x
        case .abs: return abs(x)
        case .neg: return -x
        case .reciprocal: return 1 / x
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .erf: return Foundation.erf(x)
        }
    }

    func apply(_ buffer: UnsafeMutableBufferPointer<Float>) {
        for i in buffer.indices { buffer[i] = self(buffer[i]) }
    }
}
