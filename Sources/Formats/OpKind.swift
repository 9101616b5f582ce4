/// The closed set of operations the IR knows (docs/FORMAT.md §4.1.1). Adding one is a minor format
/// version; `docs/adding-an-op.md` lists every file a new op touches.
public enum OpKind: String, CaseIterable, Sendable, Codable {
    case conv2d
    case depthwiseConv2d = "depthwise_conv2d"
    case conv2dTranspose = "conv2d_transpose"
    case dense
    case matmul
    case maxPool2d = "max_pool2d"
    case avgPool2d = "avg_pool2d"
    case globalAvgPool = "global_avg_pool"
    case globalMaxPool = "global_max_pool"
    case unary
    case binary
    case clamp
    case pad
    case reshape
    case transpose
    case concat
    case softmax
    case resize
    case slice
    case reduce
    case cast

    // Format 2.0 (typed values, several outputs, run-time shapes, control flow; docs/FORMAT.md §4.1.3).
    case gather, gatherND = "gather_nd", scatterND = "scatter_nd"
    case topK = "top_k", argMax = "arg_max", argMin = "arg_min"
    case `where`, select, compare, logical, bitwise, bitcast
    case range, fill, tile
    case broadcastTo = "broadcast_to", expandDims = "expand_dims", squeeze
    case stack, unstack, split, reverse, cumsum
    case oneHot = "one_hot", shape, size
    case nonMaxSuppression = "non_max_suppression"
    case combinedNonMaxSuppression = "combined_non_max_suppression"
    case cropAndResize = "crop_and_resize"
    case `while`, `if`

    /// The ops of format 1.x; a graph using only these (one output each, no functions) is written as 1.x.
    public static let version1: Set<OpKind> = [
        .conv2d, .depthwiseConv2d, .conv2dTranspose, .dense, .matmul, .maxPool2d, .avgPool2d, .globalAvgPool,
        .globalMaxPool, .unary, .binary, .clamp, .pad, .reshape, .transpose, .concat, .softmax, .resize, .slice,
        .reduce, .cast,
    ]
}

/// Elementwise functions of one argument, used by `unary` nodes and as fused activations.
public enum UnaryFunction: String, CaseIterable, Sendable {
    case identity, relu, relu6
    case leakyRelu = "leaky_relu"
    case elu, selu, sigmoid
    case hardSigmoid = "hard_sigmoid"
    case tanh, swish
    case hardSwish = "hard_swish"
    case gelu
    case geluTanh = "gelu_tanh"
    case softplus, softsign, exp, log, sqrt, rsqrt, square, abs, neg, reciprocal, floor, ceil, erf
}

/// Elementwise functions of two arguments with NumPy broadcasting (`binary` nodes).
public enum BinaryFunction: String, CaseIterable, Sendable {
    case add, sub, mul, div, max, min, pow
    /// Format 2.0: TF's FloorDiv / FloorMod (integer division rounding toward −∞, remainder with the divisor's sign).
    case floorDiv = "floor_div", floorMod = "floor_mod"

    public static let version1: Set<BinaryFunction> = [.add, .sub, .mul, .div, .max, .min, .pow]
}

/// Comparisons of two values with broadcasting (`compare` nodes, bool output).
public enum CompareFunction: String, CaseIterable, Sendable {
    case equal, notEqual = "not_equal", less, lessEqual = "less_equal", greater, greaterEqual = "greater_equal"
}

/// Boolean functions (`logical` nodes): `not` takes one input, the others two (broadcast).
public enum LogicalFunction: String, CaseIterable, Sendable { case and, or, xor, not }

/// Bitwise functions of two integer values (`bitwise` nodes).
public enum BitwiseFunction: String, CaseIterable, Sendable { case and, or, xor }

/// Reductions over axes (`reduce` nodes).
public enum ReduceFunction: String, CaseIterable, Sendable {
    case mean, sum, max, min, prod
}

/// What an op accepts: input counts and each attribute's type, whether it is required, and for string
/// attributes the allowed values. The graph validator enforces it on every node read from a file.
public struct OpSchema: Sendable {
    public struct AttributeSpec: Sendable {
        public let name: String
        public let kind: Attribute.Kind
        public let required: Bool
        public let allowed: [String]?
    }

    public let minInputs: Int
    public let maxInputs: Int
    /// How many outputs a node may have (ops like `split`, `unstack`, `while` have as many as they are told).
    public let outputs: ClosedRange<Int>
    public let attributes: [AttributeSpec]

    init(minInputs: Int, maxInputs: Int, outputs: Int, attributes: [AttributeSpec]) {
        self.init(minInputs: minInputs, maxInputs: maxInputs, outputs: outputs...outputs, attributes: attributes)
    }

    init(minInputs: Int, maxInputs: Int, outputs: ClosedRange<Int>, attributes: [AttributeSpec]) {
        self.minInputs = minInputs
        self.maxInputs = maxInputs
        self.outputs = outputs
        self.attributes = attributes
    }

    public func spec(_ name: String) -> AttributeSpec? { attributes.first { $0.name == name } }
}

extension OpKind {
    /// Element types a value may have at run time (float16 and int8q are storage encodings of float32 weights).
    public static let valueTypes: [DType] = [.float32, .int32, .int64, .uint8, .bool]

    public var schema: OpSchema {
        let typeNames = OpKind.valueTypes.map(\.name)
        func a(_ name: String, _ kind: Attribute.Kind, required: Bool = false, _ allowed: [String]? = nil) -> OpSchema.AttributeSpec {
            .init(name: name, kind: kind, required: required, allowed: allowed)
        }
        let padding = ["same", "valid", "explicit"]
        let window = [a("strides", .ints), a("padding", .string, padding), a("pads", .ints)]
        let activation = [a("activation", .string, ["linear"] + UnaryFunction.allCases.map(\.rawValue)),
                          a("activation_alpha", .float), a("activation_beta", .float)]
        switch self {
        case .conv2d:
            return .init(minInputs: 2, maxInputs: 3, outputs: 1, attributes: window + activation + [a("dilations", .ints), a("groups", .int)])
        case .depthwiseConv2d:
            return .init(minInputs: 2, maxInputs: 3, outputs: 1, attributes: window + activation + [a("dilations", .ints)])
        case .conv2dTranspose:
            return .init(minInputs: 2, maxInputs: 3, outputs: 1, attributes: window + activation + [a("dilations", .ints), a("output_padding", .ints)])
        case .dense:
            return .init(minInputs: 2, maxInputs: 3, outputs: 1, attributes: activation)
        case .matmul:
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [a("transpose_a", .bool), a("transpose_b", .bool)])
        case .maxPool2d, .avgPool2d:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: window + [a("kernel", .ints, required: true)])
        case .globalAvgPool, .globalMaxPool:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [a("keepdims", .bool)])
        case .unary:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                a("function", .string, required: true, UnaryFunction.allCases.map(\.rawValue)), a("alpha", .float), a("beta", .float)])
        case .binary:
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [
                a("function", .string, required: true, BinaryFunction.allCases.map(\.rawValue))] + activation)
        case .clamp:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [a("min", .float), a("max", .float)])
        case .pad:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                a("pads", .ints, required: true), a("mode", .string, ["constant", "reflect", "symmetric"]), a("value", .float)])
        case .reshape:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [a("shape", .ints, required: true)])
        case .transpose:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [a("perm", .ints, required: true)])
        case .concat:
            return .init(minInputs: 1, maxInputs: Int.max, outputs: 1, attributes: [a("axis", .int, required: true)])
        case .softmax:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [a("axis", .int)])
        case .resize:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                a("size", .ints, required: true), a("method", .string, ["bilinear", "nearest", "area"]),
                a("half_pixel_centers", .bool), a("align_corners", .bool), a("antialias", .bool)])
        case .slice:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                a("begins", .ints, required: true), a("ends", .ints, required: true), a("strides", .ints)])
        case .reduce:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                a("function", .string, required: true, ReduceFunction.allCases.map(\.rawValue)),
                a("axes", .ints, required: true), a("keepdims", .bool)])
        case .cast:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [a("to", .string, required: true, typeNames)])
        default:
            return typedSchema(typeNames)
        }
    }
}
