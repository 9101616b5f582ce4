import Formats
/// The facts from TensorFlow's op registry that a GraphDef leaves out: attribute defaults (the writer strips
/// attributes equal to their default) and the names of each op's output arguments (function bodies refer to
/// `node:output_arg:index`). Only the ops Skiff lowers or traces are listed; field values are TensorFlow's.
enum TFOpDefs {
    /// Attribute defaults per op, merged into every parsed node that lacks them.
    static let defaults: [String: [String: TFAttr]] = {
        let conv: [String: TFAttr] = ["data_format": .s("NHWC"), "dilations": .ints([1, 1, 1, 1]), "explicit_paddings": .ints([]), "use_cudnn_on_gpu": .b(true)]
        let resize: [String: TFAttr] = ["align_corners": .b(false), "half_pixel_centers": .b(false)]
        let reduce: [String: TFAttr] = ["keep_dims": .b(false)]
        let bn: [String: TFAttr] = ["epsilon": .f(0.0001), "data_format": .s("NHWC"), "is_training": .b(true), "exponential_avg_factor": .f(1)]
        let slice: [String: TFAttr] = ["begin_mask": .i(0), "end_mask": .i(0), "ellipsis_mask": .i(0), "new_axis_mask": .i(0), "shrink_axis_mask": .i(0)]
        return [
            "Conv2D": conv, "DepthwiseConv2dNative": conv, "Conv2DBackpropInput": conv,
            "MaxPool": ["data_format": .s("NHWC"), "explicit_paddings": .ints([])], "AvgPool": ["data_format": .s("NHWC")],
            "BiasAdd": ["data_format": .s("NHWC")],
            "FusedBatchNorm": bn, "FusedBatchNormV3": bn,
            "MatMul": ["transpose_a": .b(false), "transpose_b": .b(false)],
            "BatchMatMulV2": ["adj_x": .b(false), "adj_y": .b(false)], "BatchMatMulV3": ["adj_x": .b(false), "adj_y": .b(false)],
            "Mean": reduce, "Max": reduce, "Sum": reduce, "Min": reduce, "Prod": reduce,
            "Squeeze": ["squeeze_dims": .ints([])],
            "LeakyRelu": ["alpha": .f(0.2)],
            "ResizeBilinear": resize, "ResizeNearestNeighbor": resize, "ResizeArea": ["align_corners": .b(false)],
            "StridedSlice": slice,
            "Cast": ["Truncate": .b(false)],
            "Softmax": [:],
            "DecodeJpeg": ["channels": .i(0), "ratio": .i(1), "fancy_upscaling": .b(true), "try_recover_truncated": .b(false),
                           "acceptable_fraction": .f(1), "dct_method": .s("")],
            "DecodeImage": ["channels": .i(0), "expand_animations": .b(true)],
        ]
    }()

    /// Output arguments in order, each holding one tensor (ops whose outputs are lists, such as calls, `While`
    /// and `IdentityN`, are absent: `arg:i` is then simply output `i`).
    static let outputArgs: [String: [String]] = [
        "FusedBatchNorm": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
        "FusedBatchNormV3": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"],
        "Unique": ["y", "idx"],
        "TopKV2": ["values", "indices"],
        "NonMaxSuppressionV4": ["selected_indices", "valid_outputs"],
        "NonMaxSuppressionV5": ["selected_indices", "selected_scores", "valid_outputs"],
        "CombinedNonMaxSuppression": ["nmsed_boxes", "nmsed_scores", "nmsed_classes", "valid_detections"],
    ]

    /// The flat output index `arg:index` names on a node of type `op`.
    static func outputIndex(op: String, arg: String, index: Int) -> Int {
        guard let args = outputArgs[op], let position = args.firstIndex(of: arg) else { return index }
        return position + index
    }

    static func withDefaults(_ node: TFNode) -> TFNode {
        guard let d = defaults[node.op] else { return node }
        var n = node
        n.attrs.merge(d) { existing, _ in existing }
        return n
    }
}
