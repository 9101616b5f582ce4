import Engine
import Formats
import Importers
import Testing
import TestSupport

/// Runs one op on tiny inputs through the engine. Tensors in `inputs` become graph inputs; `constants`
/// become weights (filters, biases).
func runOp(_ op: OpKind, _ inputs: [Tensor], constants: [Tensor] = [], _ attributes: [String: Attribute] = [:]) throws -> Tensor {
    let b = GraphBuilder()
    var names = inputs.enumerated().map { b.input("x\($0.offset)", .float32, $0.element.shape.map(Dim.fixed)) }
    names += constants.enumerated().map { b.constant("c\($0.offset)", shape: $0.element.shape, values: $0.element.values) }
    let out = try b.add(op, "op", names, attributes)
    let m = b.finish(outputs: [out])
    try m.graph.validate()
    let engine = try Model(graph: m.graph, weights: WeightStore(m.weights))
    return try engine.run(Dictionary(uniqueKeysWithValues: zip(m.graph.inputs.map(\.name), inputs)))[out]!
}

func iota(_ shape: [Int], from start: Float = 0) -> Tensor {
    Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0) + start })
}

/// Hand-computed cases: each value below was worked out on paper from the op's definition.
@Suite struct KernelTests {
    @Test func maxPool2x2() throws {
        let y = try runOp(.maxPool2d, [iota([1, 4, 4, 1])], ["kernel": .ints([2, 2])])
        #expect(y.shape == [1, 2, 2, 1])
        #expect(y.values == [5, 7, 13, 15])
    }

    @Test func avgPoolSameDividesByInBoundsCells() throws {
        // 3×3 input 0…8, 2×2 window, stride 2, SAME: pad one row/column at the bottom/right only.
        let y = try runOp(.avgPool2d, [iota([1, 3, 3, 1])], ["kernel": .ints([2, 2]), "strides": .ints([2, 2]), "padding": .string("same")])
        let expected: [Float] = [8.0 / 4, 7.0 / 2, 13.0 / 2, 8]  // (0+1+3+4)/4, (2+5)/2, (6+7)/2, 8/1
        #expect(y.values == expected)
    }

    @Test func maxPoolSameIgnoresPadding() throws {
        let x = Tensor(shape: [1, 3, 3, 1], values: [-1, -2, -3, -4, -5, -6, -7, -8, -9])
        let y = try runOp(.maxPool2d, [x], ["kernel": .ints([2, 2]), "strides": .ints([2, 2]), "padding": .string("same")])
        #expect(y.values == [-1, -3, -7, -9])
    }

    @Test func conv2dSamePadsBottomRight() throws {
        // 4×4 input, 3×3 ones kernel, stride 2, SAME: total padding 1, all of it after → window rows 0…2 first.
        let y = try runOp(.conv2d, [iota([1, 4, 4, 1])], constants: [Tensor(shape: [3, 3, 1, 1], values: Array(repeating: 1, count: 9))],
                          ["strides": .ints([2, 2]), "padding": .string("same")])
        #expect(y.shape == [1, 2, 2, 1])
        // rows 0-2 × cols 0-2; rows 0-2 × cols 2-3; rows 2-3 × cols 0-2; rows 2-3 × cols 2-3
        let expected: [Float] = [45, 39, 66, 50]  // 0+1+2+4+5+6+8+9+10, 2+3+6+7+10+11, 8+9+10+12+13+14, 10+11+14+15
        #expect(y.values == expected)
    }

    @Test func conv2dChannelsBiasActivationAndGroups() throws {
        // 1×1 conv: out0 = x0 + 2·x1 + 1, out1 = 3·x0 − x1 − 1, then relu.
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, -3, 1])
        let w = Tensor(shape: [1, 1, 2, 2], values: [1, 3, 2, -1])
        let y = try runOp(.conv2d, [x], constants: [w, Tensor(shape: [2], values: [1, -1])], ["activation": .string("relu")])
        #expect(y.values == [6, 0, 0, 0])  // (1+4+1, 3−2−1), (−3+2+1, −9−1−1) → relu
        // Two groups of one channel each: each output sees only its own input channel.
        let g = try runOp(.conv2d, [x], constants: [Tensor(shape: [1, 1, 1, 2], values: [10, 100])], ["groups": .int(2)])
        #expect(g.values == [10, 200, -30, 100])
    }

    @Test func dilatedConvolution() throws {
        let y = try runOp(.conv2d, [iota([1, 5, 5, 1])], constants: [Tensor(shape: [2, 2, 1, 1], values: [1, 1, 1, 1])], ["dilations": .ints([2, 2])])
        #expect(y.shape == [1, 3, 3, 1])
        #expect(y.values[0] == 0 + 2 + 10 + 12)
    }

    @Test func depthwiseWithMultiplier() throws {
        // 2 channels, multiplier 2: output channel c·2 + m = x[c] · w[c, m].
        let x = Tensor(shape: [1, 1, 1, 2], values: [3, 5])
        let y = try runOp(.depthwiseConv2d, [x], constants: [Tensor(shape: [1, 1, 2, 2], values: [1, 2, 10, 20]), Tensor(shape: [4], values: [0, 0, 0, 1])])
        #expect(y.values == [3, 6, 50, 101])
    }

    @Test func transposedConvolutionScatters() throws {
        // 2×2 input, 2×2 ones kernel, stride 2, valid: every input pixel fills its own 2×2 block.
        let y = try runOp(.conv2dTranspose, [Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4])],
                          constants: [Tensor(shape: [2, 2, 1, 1], values: [1, 1, 1, 1])], ["strides": .ints([2, 2])])
        #expect(y.shape == [1, 4, 4, 1])
        #expect(y.values == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    @Test func denseOnRank3AndMatmul() throws {
        let x = Tensor(shape: [1, 2, 2], values: [1, 2, 3, 4])
        let y = try runOp(.dense, [x], constants: [Tensor(shape: [2, 1], values: [1, 10]), Tensor(shape: [1], values: [0.5])])
        #expect(y.shape == [1, 2, 1] && y.values == [21.5, 43.5])
        let m = try runOp(.matmul, [x, Tensor(shape: [1, 2, 2], values: [1, 0, 0, 1])], ["transpose_a": .bool(true)])
        #expect(m.values == [1, 3, 2, 4])
    }

    @Test func globalPools() throws {
        let x = iota([1, 2, 2, 2])  // channel 0: 0 2 4 6; channel 1: 1 3 5 7
        #expect(try runOp(.globalAvgPool, [x]).values == [3, 4])
        let m = try runOp(.globalMaxPool, [x], ["keepdims": .bool(true)])
        #expect(m.shape == [1, 1, 1, 2] && m.values == [6, 7])
    }

    @Test func unaryFunctions() throws {
        let x = Tensor(shape: [4], values: [-2, -0.5, 0.5, 3])
        func f(_ name: String, _ extra: [String: Attribute] = [:]) throws -> [Float] {
            try runOp(.unary, [x], ["function": .string(name)].merging(extra) { a, _ in a }).values
        }
        #expect(try f("relu") == [0, 0, 0.5, 3])
        #expect(try f("relu6") == [0, 0, 0.5, 3])
        #expect(try f("leaky_relu", ["alpha": .float(0.5)]) == [-1, -0.25, 0.5, 3])
        let hardSigmoid: [Float] = [-2.0 / 6 + 0.5, -0.5 / 6 + 0.5, 0.5 / 6 + 0.5, 1]
        expectClose(try f("hard_sigmoid"), hardSigmoid)
        expectClose(try f("hard_sigmoid", ["alpha": .float(0.2), "beta": .float(0.5)]), [0.1, 0.4, 0.6, 1])
        let hardSwish: [Float] = [-2.0 / 6, -0.5 * 2.5 / 6, 0.5 * 3.5 / 6, 3]
        expectClose(try f("hard_swish"), hardSwish)
        expectClose(try f("relu", ["alpha": .float(0.1), "beta": .float(1)]), [-0.3, -0.15, -0.05, 3])
        #expect(try f("abs") == [2, 0.5, 0.5, 3])
        #expect(try f("square") == [4, 0.25, 0.25, 9])
        #expect(try f("neg") == [2, 0.5, -0.5, -3])
        expectClose(try f("softsign"), [-2.0 / 3, -1.0 / 3, 1.0 / 3, 0.75])
        expectClose(try f("sigmoid"), [0.11920292, 0.37754067, 0.62245933, 0.95257413])
        expectClose(try f("gelu"), [-0.04550026, -0.15426877, 0.34573123, 2.99595031])
        expectClose(try f("elu"), [-0.86466472, -0.39346934, 0.5, 3])
        expectClose(try f("selu"), [-1.52016647, -0.69175816, 0.52535050, 3.15210296])
        expectClose(try f("swish"), [-0.23840584, -0.18877033, 0.31122967, 2.85772238])
        expectClose(try f("softplus"), [0.12692801, 0.47407698, 0.97407698, 3.04858735])
    }

    @Test func binaryBroadcasting() throws {
        let a = iota([2, 3]), b = Tensor(shape: [3], values: [10, 20, 30])
        #expect(try runOp(.binary, [a, b], ["function": .string("add")]).values == [10, 21, 32, 13, 24, 35])
        let col = Tensor(shape: [2, 1], values: [2, 3])
        #expect(try runOp(.binary, [a, col], ["function": .string("mul")]).values == [0, 2, 4, 9, 12, 15])
        #expect(try runOp(.binary, [a, col], ["function": .string("sub"), "activation": .string("relu")]).values == [0, 0, 0, 0, 1, 2])
        #expect(try runOp(.binary, [a, col], ["function": .string("max")]).values == [2, 2, 2, 3, 4, 5])
        #expect(try runOp(.binary, [col, a], ["function": .string("div")]).values == [.infinity, 2, 1, 1, 0.75, 0.6])
    }

    @Test func clampPadReshapeTranspose() throws {
        #expect(try runOp(.clamp, [iota([4])], ["min": .float(1), "max": .float(2)]).values == [1, 1, 2, 2])
        let p = try runOp(.pad, [iota([1, 3])], ["pads": .ints([0, 0, 1, 2]), "value": .float(-1)])
        #expect(p.shape == [1, 6] && p.values == [-1, 0, 1, 2, -1, -1])
        let r = try runOp(.pad, [iota([3])], ["pads": .ints([2, 1]), "mode": .string("reflect")])
        #expect(r.values == [2, 1, 0, 1, 2, 1])
        let s = try runOp(.pad, [iota([3])], ["pads": .ints([2, 1]), "mode": .string("symmetric")])
        #expect(s.values == [1, 0, 0, 1, 2, 2])
        let rs = try runOp(.reshape, [iota([2, 3])], ["shape": .ints([0, -1, 1])])
        #expect(rs.shape == [2, 3, 1])
        let t = try runOp(.transpose, [iota([2, 3])], ["perm": .ints([1, 0])])
        #expect(t.shape == [3, 2] && t.values == [0, 3, 1, 4, 2, 5])
    }

    @Test func concatSliceReduceSoftmaxCast() throws {
        let c = try runOp(.concat, [iota([2, 1]), iota([2, 2], from: 10)], ["axis": .int(-1)])
        #expect(c.values == [0, 10, 11, 1, 12, 13])
        let s = try runOp(.slice, [iota([1, 4, 4, 1])], ["begins": .ints([0, 1, 0, 0]), "ends": .ints([Int.max, -1, Int.max, Int.max]), "strides": .ints([1, 1, 2, 1])])
        #expect(s.shape == [1, 2, 2, 1] && s.values == [4, 6, 8, 10])
        #expect(try runOp(.reduce, [iota([2, 3])], ["function": .string("mean"), "axes": .ints([1])]).values == [1, 4])
        #expect(try runOp(.reduce, [iota([2, 3])], ["function": .string("max"), "axes": .ints([0]), "keepdims": .bool(true)]).values == [3, 4, 5])
        let sm = try runOp(.softmax, [Tensor(shape: [1, 3], values: [1, 2, 3])])
        expectClose(sm.values, [0.09003057, 0.24472847, 0.66524096])
        // Integers stay integers (format 2.0): the result is a uint8 tensor, saturating where TF's result is undefined.
        let b = GraphBuilder()
        let cast = try b.add(.cast, "cast", [b.input("x", .float32, [3])], ["to": .string("uint8")])
        let m = b.finish(outputs: [cast])
        let engine = try Model(graph: m.graph, weights: WeightStore(m.weights))
        let out = try engine.run(typed: ["x": TypedTensor(shape: [3], floats: [-1.7, 2.5, 300])])[cast]!
        #expect(out.storage == .uint8([0, 2, 255]))
    }

    @Test func resizeMatchesTensorFlowHalfPixelRules() throws {
        // tf.image.resize([[1, 2], [3, 4]], [4, 4], 'bilinear') row 0 = [1, 1.25, 1.75, 2].
        let x = Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4])
        let y = try runOp(.resize, [x], ["size": .ints([4, 4])])
        #expect(Array(y.values[0..<4]) == [1, 1.25, 1.75, 2])
        #expect(Array(y.values[4..<8]) == [1.5, 1.75, 2.25, 2.5])
        let n = try runOp(.resize, [x], ["size": .ints([3, 3]), "method": .string("nearest")])
        // half-pixel nearest: source index floor((o + 0.5) · 2/3) = 0, 1, 1
        #expect(n.values == [1, 2, 2, 3, 4, 4, 3, 4, 4])
    }

    /// Every op kind in the IR has at least one hand-computed case above (a new op fails this test
    /// until it gets one).
    @Test func everyFormat1OpKindIsCovered() {
        let covered: Set<OpKind> = [.maxPool2d, .avgPool2d, .conv2d, .depthwiseConv2d, .conv2dTranspose, .dense, .matmul,
                                    .globalAvgPool, .globalMaxPool, .unary, .binary, .clamp, .pad, .reshape, .transpose,
                                    .concat, .slice, .reduce, .softmax, .cast, .resize]
        #expect(covered == OpKind.version1)  // format 2.0 ops: ConformanceTests, against TensorFlow
    }

    @Test func runtimeErrorsNameTheInput() throws {
        let b = GraphBuilder()
        let x = b.input("image", .float32, [.batch, 4, 4, 3])
        let out = try b.add(.globalAvgPool, "gap", [x])
        let m = b.finish(outputs: [out])
        let engine = try Model(graph: m.graph, weights: WeightStore(m.weights))
        #expect(throws: EngineError.self) { try engine.run(["image": iota([1, 4, 4, 2])]) }
        do { _ = try engine.run([:]) } catch { #expect("\(error)".contains("missing input 'image'")) }
        do { _ = try engine.run(["image": iota([1, 5, 4, 3])]) } catch { #expect("\(error)".contains("dimension 1 must be 4")) }
        // The batch dimension is dynamic.
        #expect(try engine.run(["image": iota([3, 4, 4, 3])])[out]!.shape == [3, 3])
    }
}
