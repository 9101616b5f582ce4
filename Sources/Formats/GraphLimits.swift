/// The ranges every number in a graph read from a file must lie in — the one place attribute values and
/// value shapes are checked, by `ModelGraph.validate()` (so by the writer, `SkiffFile`, `inspect`, the engine
/// and the runtimes alike) and again by `ShapeInference` (so readers building graphs from Keras or
/// TensorFlow files get the same answer).
///
/// The caps are far above any real image model and low enough that shape arithmetic on values within them
/// cannot overflow: dims ≤ 2^32, elements ≤ 2^34, windows and pads ≤ 2^20, so a product or sum of two is < 2^63.
public enum GraphLimits {
    /// Largest fixed dimension of any value.
    public static let maxDimension = 1 << 32
    /// Most elements in one value (symbolic dimensions count as 1 at load; at run time they are concrete).
    public static let maxElements = 1 << 34
    /// Largest kernel size, stride or dilation of a window op, and largest slice stride.
    public static let maxWindow = 1 << 16
    /// Largest `groups` of a convolution.
    public static let maxGroups = 1 << 20
    /// Largest padding amount on one side (`pads` of window ops and of `pad`, `output_padding`).
    public static let maxPad = 1 << 20
    /// Most outputs of one node (`split`, `unstack`, `while`, `if`).
    public static let maxOutputs = 1 << 12
    /// Most functions in a graph's library, and deepest nesting of `while`/`if` calls.
    public static let maxFunctions = 1 << 12
    public static let maxCallDepth = 32
    /// Largest `max_iterations` of a `while` node: the loop bound a file may ask for. Importers give loops
    /// without their own maximum this bound.
    public static let maxIterations = 1 << 24

    /// The number of elements of `shape` (symbolic dims count as 1), or nil when a dim is negative or over
    /// `maxDimension`, or the count is over `maxElements`. Never overflows.
    public static func elementCount(_ shape: [Dim]) -> Int? {
        var total = 1
        for d in shape {
            guard let v = d.fixedValue else { continue }
            guard v >= 0, v <= maxDimension else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, p <= maxElements else { return nil }
            total = p
        }
        return total
    }

    /// Checks that a value's fixed dims are within `0…maxDimension` and it has at most `maxElements` elements.
    /// - Throws: `FormatsError.absurdValueShape` naming the value and `what` defines it.
    public static func check(_ value: ValueInfo, _ what: String) throws {
        guard elementCount(value.shape) == nil else { return }
        throw FormatsError(.absurdValueShape, "\(what) value '\(value.name)' has shape [\(value.shape.map(\.description).joined(separator: ", "))]: expected dimensions 0…2^32 and at most 2^34 elements")
    }

    /// Checks the numeric attributes of `node` against the caps above.
    /// - Throws: `FormatsError.badPads` for `pads` / `output_padding`, `FormatsError.attributeOutOfRange` for
    ///   the others, naming the node, the attribute, its value and the expected range.
    public static func check(_ node: Node) throws {
        let at = "node '\(node.name)' (\(node.op.rawValue)) attribute"
        func ints(_ key: String, count: Int?, _ range: ClosedRange<Int>, code: FormatsError.Code = .attributeOutOfRange) throws {
            guard let v = node.ints(key) else { return }
            guard count.map({ v.count == $0 }) ?? true, v.allSatisfy({ range.contains($0) }) else {
                let n = count.map { "\($0) integers" } ?? "integers"
                throw FormatsError(code, "\(at) '\(key)' is \(v): expected \(n) in \(range.lowerBound)…\(range.upperBound)")
            }
        }
        switch node.op {
        case .conv2d, .depthwiseConv2d, .conv2dTranspose, .maxPool2d, .avgPool2d:
            try ints("kernel", count: 2, 1...maxWindow)
            try ints("strides", count: 2, 1...maxWindow)
            try ints("dilations", count: 2, 1...maxWindow)
            try ints("pads", count: 4, 0...maxPad, code: .badPads)
            try ints("output_padding", count: 2, 0...maxPad, code: .badPads)
            if let g = node.int("groups"), !(1...maxGroups).contains(g) {
                throw FormatsError(.attributeOutOfRange, "\(at) 'groups' is \(g): expected 1…\(maxGroups)")
            }
        case .pad:
            try ints("pads", count: nil, 0...maxPad, code: .badPads)
        case .slice:
            try ints("strides", count: nil, 1...maxWindow)
        case .reshape:
            try ints("shape", count: nil, -1...maxDimension)
        case .resize:
            try ints("size", count: 2, 1...maxDimension)
        case .cropAndResize:
            try ints("crop_size", count: 2, 1...maxWindow)
        case .split:
            try ints("sizes", count: nil, -1...maxDimension)
        case .while:
            if let n = node.int("max_iterations"), !(0...maxIterations).contains(n) {
                throw FormatsError(.attributeOutOfRange, "\(at) 'max_iterations' is \(n): expected 0…\(maxIterations) (a loop needs a bound)")
            }
        case .nonMaxSuppression, .combinedNonMaxSuppression:
            for key in ["max_output_size", "max_output_size_per_class", "max_total_size"] {
                if let n = node.int(key), !(0...maxDimension).contains(n) {
                    throw FormatsError(.attributeOutOfRange, "\(at) '\(key)' is \(n): expected 0…\(maxDimension)")
                }
            }
        case .oneHot:
            if let n = node.int("depth"), !(0...maxDimension).contains(n) {
                throw FormatsError(.attributeOutOfRange, "\(at) 'depth' is \(n): expected 0…\(maxDimension)")
            }
        default:
            break
        }
    }
}
