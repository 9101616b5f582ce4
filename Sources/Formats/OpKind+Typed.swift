/// Schemas of the format 2.0 ops (docs/FORMAT.md §4.1.3): typed values, several outputs, run-time shapes,
/// control flow. Attribute meanings follow the TensorFlow op each lowers from; `docs/FORMAT.md` names it.
extension OpKind {
    /// Whether nodes of this kind need the general executor (typed values, run-time shapes, functions).
    public var isVersion2: Bool { !OpKind.version1.contains(self) }

    func typedSchema(_ types: [String]) -> OpSchema {
        func attr(_ name: String, _ kind: Attribute.Kind, required: Bool = false, _ allowed: [String]? = nil) -> OpSchema.AttributeSpec {
            .init(name: name, kind: kind, required: required, allowed: allowed)
        }
        let indexTypes = ["int32", "int64"]
        let many = Int.max
        switch self {
        case .gather:
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [attr("axis", .int), attr("batch_dims", .int)])
        case .gatherND:
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [attr("batch_dims", .int)])
        case .scatterND:
            // indices, updates, and the output shape as a 1-D integer tensor (TF ScatterNd).
            return .init(minInputs: 3, maxInputs: 3, outputs: 1, attributes: [])
        case .topK:
            // x and k (a scalar int32); outputs values and int32 indices, sorted descending, ties to the lower index.
            return .init(minInputs: 2, maxInputs: 2, outputs: 2, attributes: [attr("sorted", .bool)])
        case .argMax, .argMin:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                attr("axis", .int, required: true), attr("output_type", .string, indexTypes)])
        case .where:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [])
        case .select:
            return .init(minInputs: 3, maxInputs: 3, outputs: 1, attributes: [])
        case .compare:
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [
                attr("function", .string, required: true, CompareFunction.allCases.map(\.rawValue))])
        case .logical:
            return .init(minInputs: 1, maxInputs: 2, outputs: 1, attributes: [
                attr("function", .string, required: true, LogicalFunction.allCases.map(\.rawValue))])
        case .bitwise:
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [
                attr("function", .string, required: true, BitwiseFunction.allCases.map(\.rawValue))])
        case .bitcast:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [attr("to", .string, required: true, types)])
        case .range:
            // start, limit, delta (scalars of one type).
            return .init(minInputs: 3, maxInputs: 3, outputs: 1, attributes: [])
        case .fill:
            // dims (1-D integer), value (scalar).
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [])
        case .tile:
            // x, multiples (1-D integer).
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [])
        case .broadcastTo:
            // x, shape (1-D integer).
            return .init(minInputs: 2, maxInputs: 2, outputs: 1, attributes: [])
        case .expandDims:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [attr("axis", .int, required: true)])
        case .squeeze:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [attr("axes", .ints)])
        case .stack:
            return .init(minInputs: 1, maxInputs: many, outputs: 1, attributes: [attr("axis", .int)])
        case .unstack:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1...GraphLimits.maxOutputs, attributes: [attr("axis", .int)])
        case .split:
            // Sizes along `axis`, one per output (one −1 allowed: the rest).
            return .init(minInputs: 1, maxInputs: 1, outputs: 1...GraphLimits.maxOutputs, attributes: [
                attr("axis", .int, required: true), attr("sizes", .ints, required: true)])
        case .reverse:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [attr("axes", .ints, required: true)])
        case .cumsum:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                attr("axis", .int, required: true), attr("exclusive", .bool), attr("reverse", .bool)])
        case .oneHot:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [
                attr("depth", .int, required: true), attr("on_value", .float), attr("off_value", .float), attr("axis", .int),
                attr("dtype", .string, types)])
        case .shape:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [attr("out_type", .string, indexTypes)])
        case .size:
            return .init(minInputs: 1, maxInputs: 1, outputs: 1, attributes: [attr("out_type", .string, indexTypes)])
        case .nonMaxSuppression:
            // boxes [n, 4], scores [n]; outputs selected indices (int32), their scores, the valid count (int32).
            return .init(minInputs: 2, maxInputs: 2, outputs: 3, attributes: [
                attr("max_output_size", .int, required: true), attr("iou_threshold", .float), attr("score_threshold", .float),
                attr("soft_nms_sigma", .float), attr("pad_to_max_output_size", .bool)])
        case .combinedNonMaxSuppression:
            // boxes [b, n, q, 4], scores [b, n, c]; outputs boxes, scores, classes (float), valid count (int32).
            return .init(minInputs: 2, maxInputs: 2, outputs: 4, attributes: [
                attr("max_output_size_per_class", .int, required: true), attr("max_total_size", .int, required: true),
                attr("iou_threshold", .float), attr("score_threshold", .float), attr("pad_per_class", .bool), attr("clip_boxes", .bool)])
        case .cropAndResize:
            // image [b, h, w, c], boxes [n, 4] (normalised y1 x1 y2 x2), box indices [n].
            return .init(minInputs: 3, maxInputs: 3, outputs: 1, attributes: [
                attr("crop_size", .ints, required: true), attr("method", .string, ["bilinear", "nearest"]),
                attr("extrapolation_value", .float)])
        case .while:
            // Loop-carried values in and out; `cond` and `body` name functions of the graph's library. At
            // `max_iterations` the loop stops (`on_limit: stop`, TF's maximum_iterations) or fails (`error`,
            // the default: a bound an importer gave a loop that had none).
            return .init(minInputs: 1, maxInputs: many, outputs: 1...GraphLimits.maxOutputs, attributes: [
                attr("cond", .string, required: true), attr("body", .string, required: true),
                attr("max_iterations", .int, required: true), attr("on_limit", .string, ["error", "stop"])])
        case .if:
            // A scalar predicate, then the branches' arguments.
            return .init(minInputs: 1, maxInputs: many, outputs: 1...GraphLimits.maxOutputs, attributes: [
                attr("then_branch", .string, required: true), attr("else_branch", .string, required: true)])
        default:
            preconditionFailure("\(self) has a format 1 schema")
        }
    }
}
