import Formats

/// One node with its attributes parsed and checked once, ready to run without further checks.
struct Step {
    enum Kernel {
        case conv(ConvParams), depthwise(ConvParams), convTranspose(ConvParams)
        case dense(Activation?), matmul(transposeA: Bool, transposeB: Bool)
        case pool(kernel: [Int], ConvParams, max: Bool), globalPool(max: Bool)
        case unary(Activation), binary(BinaryFunction, Activation?), clamp(Float, Float), cast(DType)
        case pad([Int], String, Float), reshape, transpose([Int]), concat(axis: Int), softmax(axis: Int)
        case resize(ResizeKernels.Params), slice([Int], [Int], [Int]), reduce([Int], ReduceFunction)
    }

    let node: Node
    let kernel: Kernel
    let inputs: [String]
    let output: String
}

enum Planner {
    /// Parses every node's attributes into a kernel, checking what the schema cannot (values in range,
    /// supported modes). Errors name the node.
    static func steps(for graph: ModelGraph) throws -> [Step] {
        try graph.nodes.map(step)
    }

    /// The step of one format 1 node (the general executor runs format 2 ops itself).
    static func step(_ node: Node) throws -> Step {
            func fail(_ m: String) -> EngineError { EngineError("node '\(node.name)' (\(node.op.rawValue)): \(m)") }
            let kernel: Step.Kernel
            switch node.op {
            case .conv2d: kernel = .conv(ConvParams(node))
            case .depthwiseConv2d: kernel = .depthwise(ConvParams(node))
            case .conv2dTranspose: kernel = .convTranspose(ConvParams(node))
            case .dense: kernel = .dense(Activation(fusedIn: node))
            case .matmul: kernel = .matmul(transposeA: node.bool("transpose_a") ?? false, transposeB: node.bool("transpose_b") ?? false)
            case .maxPool2d, .avgPool2d:
                let window = node.ints("kernel") ?? [1, 1]
                var params = ConvParams(node)
                if node.ints("strides") == nil { params.strides = window }  // pooling strides default to the window
                kernel = .pool(kernel: window, params, max: node.op == .maxPool2d)
            case .globalAvgPool, .globalMaxPool: kernel = .globalPool(max: node.op == .globalMaxPool)
            case .unary:
                guard let f = UnaryFunction(rawValue: node.string("function") ?? "") else { throw fail("unknown function") }
                kernel = .unary(Activation(f, alpha: node.float("alpha"), beta: node.float("beta")))
            case .binary:
                guard let f = BinaryFunction(rawValue: node.string("function") ?? "") else { throw fail("unknown function") }
                kernel = .binary(f, Activation(fusedIn: node))
            case .clamp: kernel = .clamp(Float(node.float("min") ?? -.infinity), Float(node.float("max") ?? .infinity))
            case .cast: kernel = .cast(DType(name: node.string("to") ?? "") ?? .float32)
            case .pad: kernel = .pad(node.ints("pads") ?? [], node.string("mode") ?? "constant", Float(node.float("value") ?? 0))
            case .reshape: kernel = .reshape
            case .transpose: kernel = .transpose(node.ints("perm") ?? [])
            case .concat: kernel = .concat(axis: node.int("axis") ?? 0)
            case .softmax: kernel = .softmax(axis: node.int("axis") ?? -1)
            case .resize:
                var method = node.string("method") ?? "bilinear"
                if node.bool("antialias") == true {
                    guard method == "bilinear" else { throw fail("antialiasing is supported for bilinear resizing only") }
                    method = "antialias"
                }
                kernel = .resize(.init(method: method, halfPixelCenters: node.bool("half_pixel_centers") ?? true,
                                       alignCorners: node.bool("align_corners") ?? false))
            case .slice:
                let rank = node.ints("begins")?.count ?? 0
                kernel = .slice(node.ints("begins") ?? [], node.ints("ends") ?? [], node.ints("strides") ?? Array(repeating: 1, count: rank))
            case .reduce:
                guard let f = ReduceFunction(rawValue: node.string("function") ?? "") else { throw fail("unknown function") }
                kernel = .reduce(node.ints("axes") ?? [], f)
            default:
                throw fail("is a format 2 op; the general executor runs it")
            }
            return Step(node: node, kernel: kernel, inputs: node.inputs, output: node.outputs[0].name)
    }
}
