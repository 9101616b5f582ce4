import Engine
import Formats
import Importers
import Testing
import TestSupport

/// Every fast kernel against its reference kernel on random shapes and attributes: the reference is
/// the definition; the fast path must agree to float32 rounding (atol 1e-4 + rtol 1e-4).
@Suite struct FastKernelTests {
    /// Builds a one-node graph and runs it with both kernel sets.
    func both(_ op: OpKind, _ inputs: [Tensor], constants: [Tensor], _ attributes: [String: Attribute]) throws -> (Tensor, Tensor) {
        let b = GraphBuilder()
        var names = inputs.enumerated().map { b.input("x\($0.offset)", .float32, $0.element.shape.map(Dim.fixed)) }
        names += constants.enumerated().map { b.constant("c\($0.offset)", shape: $0.element.shape, values: $0.element.values) }
        let out = try b.add(op, "op", names, attributes)
        let m = b.finish(outputs: [out])
        let feeds = Dictionary(uniqueKeysWithValues: zip(m.graph.inputs.map(\.name), inputs))
        let fast = try Model(graph: m.graph, weights: WeightStore(m.weights), kernels: .fast).run(feeds)[out]!
        let reference = try Model(graph: m.graph, weights: WeightStore(m.weights), kernels: .reference).run(feeds)[out]!
        return (fast, reference)
    }

    func random(_ shape: [Int], _ rng: inout SeededRandom) -> Tensor { Tensor(shape: shape, values: rng.floats(shape.reduce(1, *), std: 1)) }

    @Test(arguments: 0..<40) func convolution(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed))
        func pick(_ options: [Int]) -> Int { options[Int(rng.next() % UInt64(options.count))] }
        let k = pick([1, 1, 3, 5, 7]), s = pick([1, 1, 2]), d = k > 1 && s == 1 ? pick([1, 1, 2]) : 1
        let h = pick([5, 8, 13, 17]), w = pick([4, 9, 16]), cin = pick([1, 3, 8, 17]), cout = pick([1, 4, 16, 33]), n = pick([1, 2, 3])
        let padding = pick([0, 1]) == 0 ? "same" : "valid"
        guard padding == "same" || (k - 1) * d + 1 <= min(h, w) else { return }
        let activation = ["linear", "relu", "relu6", "sigmoid", "hard_swish"][Int(rng.next() % 5)]
        let (f, r) = try both(.conv2d, [random([n, h, w, cin], &rng)], constants: [random([k, k, cin, cout], &rng), random([cout], &rng)],
                              ["strides": .ints([s, s]), "dilations": .ints([d, d]), "padding": .string(padding), "activation": .string(activation)])
        #expect(f.shape == r.shape)
        expectClose(f.values, r.values, atol: 1e-4, rtol: 1e-4)
    }

    @Test(arguments: 0..<30) func depthwise(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(100 + seed))
        func pick(_ options: [Int]) -> Int { options[Int(rng.next() % UInt64(options.count))] }
        let k = pick([3, 5]), s = pick([1, 2]), c = pick([1, 7, 8, 16, 19, 32]), h = pick([6, 11, 14]), n = pick([1, 2])
        let padding = pick([0, 1]) == 0 ? "same" : "valid"
        let withBias = pick([0, 1]) == 1
        let (f, r) = try both(.depthwiseConv2d, [random([n, h, h + 1, c], &rng)],
                              constants: [random([k, k, c, 1], &rng)] + (withBias ? [random([c], &rng)] : []),
                              ["strides": .ints([s, s]), "padding": .string(padding), "activation": .string(pick([0, 1]) == 0 ? "relu6" : "linear")])
        expectClose(f.values, r.values, atol: 1e-4, rtol: 1e-4)
    }

    /// Products with few rows and many columns (batch-1 heads, the late 5×5 layers) are split by columns
    /// across threads, through the AVX2 kernel (K ≤ 256), OpenBLAS, and for one row the matrix-vector kernel
    /// (K not a multiple of its 4-row step included); partial 16-column strips included.
    @Test(arguments: 0..<12) func fewRowsManyColumns(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(300 + seed))
        func pick(_ options: [Int]) -> Int { options[Int(rng.next() % UInt64(options.count))] }
        let rows = pick([1, 5, 25]), inF = pick([64, 200, 320, 1280, 1001]), outF = pick([100, 1000, 1283])
        // One row with bias and a relu6 clamp: a 1×1 convolution of a single pixel.
        let (vf, vr) = try both(.conv2d, [random([1, 1, 1, inF], &rng)], constants: [random([1, 1, inF, outF], &rng), random([outF], &rng)],
                                ["padding": .string("valid"), "activation": .string("relu6")])
        expectClose(vf.values, vr.values, atol: 1e-3, rtol: 1e-4)
        let (f, r) = try both(.dense, [random([rows, inF], &rng)], constants: [random([inF, outF], &rng), random([outF], &rng)],
                              ["activation": .string(pick([0, 1]) == 0 ? "relu" : "linear")])
        expectClose(f.values, r.values, atol: 1e-3, rtol: 1e-4)
        let (cf, cr) = try both(.conv2d, [random([1, 5, 5, inF], &rng)], constants: [random([1, 1, inF, outF], &rng), random([outF], &rng)],
                                ["padding": .string("valid"), "activation": .string("relu6")])
        expectClose(cf.values, cr.values, atol: 1e-3, rtol: 1e-4)
    }

    /// The worker pool under many back-to-back small parallel loops (the hand-off a model makes between ops):
    /// every one must see all of its chunks done, and none twice.
    @Test func poolRunsEveryChunkOnce() throws {
        var rng = SeededRandom(seed: 9)
        let x = random([2, 12, 12, 16], &rng), k = random([3, 3, 16, 1], &rng)
        let (f0, r0) = try both(.depthwiseConv2d, [x], constants: [k], ["padding": .string("same")])
        for _ in 0..<300 {
            let (f, _) = try both(.depthwiseConv2d, [x], constants: [k], ["padding": .string("same")])
            #expect(f.values == f0.values)
        }
        expectClose(f0.values, r0.values, atol: 1e-4, rtol: 1e-4)
    }

    @Test(arguments: 0..<20) func denseAndElementwise(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(200 + seed))
        func pick(_ options: [Int]) -> Int { options[Int(rng.next() % UInt64(options.count))] }
        let rows = pick([1, 2, 7]), inF = pick([1, 5, 64]), outF = pick([1, 3, 10, 100])
        let (f, r) = try both(.dense, [random([rows, inF], &rng)], constants: [random([inF, outF], &rng), random([outF], &rng)],
                              ["activation": .string(pick([0, 1]) == 0 ? "relu" : "tanh")])
        expectClose(f.values, r.values, atol: 1e-4, rtol: 1e-4)
        let shape = [pick([1, 2]), pick([3, 5]), pick([4, 7]), pick([1, 8, 13])]
        let se = [2, shape[1], shape[2], shape[3]]
        for (fn, x, y) in [("mul", se, [2, 1, 1, shape[3]]), ("mul", [2, 1, 1, shape[3]], se), ("sub", [2, 1, 1, shape[3]], se), ("add", [1, shape[1], 1, shape[3]], se)] {
            let (sf, sr) = try both(.binary, [random(x, &rng), random(y, &rng)], constants: [], ["function": .string(fn)])
            expectClose(sf.values, sr.values, atol: 1e-5, rtol: 1e-5)
        }
        for other in [shape, [shape[3]], []] {
            for fn in BinaryFunction.version1 where fn != .pow {
                let (bf, br) = try both(.binary, [random(shape, &rng), random(other, &rng)], constants: [],
                                        ["function": .string(fn.rawValue), "activation": .string("relu")])
                expectClose(bf.values, br.values, atol: 1e-4, rtol: 1e-4)
            }
        }
        for fn in UnaryFunction.allCases where ![.log, .sqrt, .rsqrt, .reciprocal].contains(fn) {
            let (uf, ur) = try both(.unary, [random(shape, &rng)], constants: [], ["function": .string(fn.rawValue)])
            expectClose(uf.values, ur.values, atol: 1e-5, rtol: 1e-5)
        }
        let (cf, cr) = try both(.clamp, [random(shape, &rng)], constants: [], ["min": .float(-0.5), "max": .float(0.7)])
        #expect(cf.values == cr.values)
        for op in [OpKind.maxPool2d, .avgPool2d] {
            let k = pick([2, 3]), st = pick([1, 2])
            let (pf, pr) = try both(op, [random([shape[0], 9, 8, shape[3]], &rng)], constants: [],
                                    ["kernel": .ints([k, k]), "strides": .ints([st, st]), "padding": .string(pick([0, 1]) == 0 ? "same" : "valid")])
            expectClose(pf.values, pr.values, atol: 1e-5, rtol: 1e-5)
        }
        let (padF, padR) = try both(.pad, [random(shape, &rng)], constants: [], ["pads": .ints([0, 0, 1, 2, 0, 1, 0, 0]), "value": .float(0.5)])
        #expect(padF.values == padR.values)
        for op in [OpKind.globalAvgPool, .globalMaxPool] {
            let (gf, gr) = try both(op, [random(shape, &rng)], constants: [], [:])
            expectClose(gf.values, gr.values, atol: 1e-5, rtol: 1e-5)
        }
    }
}
