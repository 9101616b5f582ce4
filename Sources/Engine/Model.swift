import Foundation
import Formats

/// A loaded model, ready to run. NHWC float32 tensors in and out; the batch dimension is dynamic.
///
/// Loading decodes the weights once, parses every node and checks the graph's shapes with the batch
/// symbolic, so a bad model fails here (naming the node), never in the middle of a run.
public final class Model: @unchecked Sendable {
    /// Which kernels run: the optimised ones (falling back to the reference where none applies), or
    /// only the reference kernels — the definition, used to check the fast ones.
    public enum Kernels: Sendable { case fast, reference }

    public let graph: ModelGraph
    public let weights: WeightStore
    public let kernels: Kernels
    let steps: [Step]
    /// Intermediate buffers and im2col scratch, kept between runs (a run holds `lock`).
    private let pool = BufferPool()
    private let scratch = Scratch()
    private let lock = PlainLock()
    /// When set, each run adds the time spent per op kind (milliseconds) to `profile`.
    public var profiling = false
    public private(set) var profile: [OpKind: Double] = [:]
    /// Per-node times (milliseconds, summed over runs) when profiling.
    public private(set) var nodeProfile: [String: Double] = [:]
    /// Output shapes per step, for each input-shape combination seen.
    private var shapeCache: [[[Int]]: [[Int]]] = [:]
    /// For each value, the index of the last step that reads it (graph outputs: never released).
    let lastUse: [String: Int]

    /// The general executor, for graphs that are not float32 straight lines (format 2.0: typed values,
    /// several outputs, run-time shapes, control flow); nil on the classifier path.
    let general: Interpreter?

    public convenience init(file: SkiffFile, kernels: Kernels = .fast) throws {
        let graph = file.manifest.graph
        if graph.isStaticFloat {
            try self.init(graph: graph, weights: try WeightStore(file: file), kernels: kernels)
        } else {
            try self.init(graph: graph, constants: try Interpreter.constants(of: graph, file: file), kernels: kernels)
        }
    }

    /// A converted model before it is written (constants of any type).
    public convenience init(lowered m: LoweredModel, kernels: Kernels = .fast) throws {
        try self.init(graph: m.graph, constants: m.weights.mapValues(TypedTensor.init), kernels: kernels)
    }

    /// A graph with constants of any type: the general executor unless the graph is a float32 straight line.
    public convenience init(graph: ModelGraph, constants: [String: TypedTensor], kernels: Kernels = .fast) throws {
        if graph.isStaticFloat {
            var floats: [String: ConstantData] = [:]
            for (name, t) in constants {
                guard let f = t.floatTensor else { throw EngineError("constant '\(name)' is \(t.dtype) in a float32 graph") }
                floats[name] = ConstantData(shape: f.shape, values: f.values)
            }
            try self.init(graph: graph, weights: WeightStore(floats), kernels: kernels)
        } else {
            try self.init(general: graph, constants: constants, kernels: kernels)
        }
    }

    private init(general graph: ModelGraph, constants: [String: TypedTensor], kernels: Kernels) throws {
        self.graph = graph
        self.weights = WeightStore([:])
        self.kernels = kernels
        try graph.validate()
        try graph.checkShapes()
        general = try Interpreter(graph: graph, constants: constants)
        steps = []
        lastUse = [:]
    }

    public init(graph: ModelGraph, weights: WeightStore, kernels: Kernels = .fast) throws {
        self.graph = graph
        self.weights = weights
        self.kernels = kernels
        guard graph.isStaticFloat else {
            // Typed values or control flow (format 2.0): the general executor, with these float32 weights.
            try graph.validate()
            try graph.checkShapes()
            var constants = weights.weights.mapValues { TypedTensor(shape: $0.shape, floats: Array($0.values)) }
            for (name, c) in weights.integerConstants { constants[name] = TypedTensor(c) }
            general = try Interpreter(graph: graph, constants: constants)
            steps = []
            lastUse = [:]
            return
        }
        general = nil
        try Self.checkShapes(graph, weights)
        steps = try Planner.steps(for: graph)
        var last: [String: Int] = [:]
        for (i, s) in steps.enumerated() { for v in s.inputs where !v.isEmpty { last[v] = i } }
        for o in graph.outputs { last[o.name] = Int.max }
        lastUse = last
    }

    /// Checks the weights match the constants, then re-derives every node's output shape from its inputs
    /// (batch symbolic) and compares it with the shape the file records — the same check `SkiffFile` runs.
    private static func checkShapes(_ graph: ModelGraph, _ weights: WeightStore) throws {
        for c in graph.constants {
            guard let w = weights[c.name] else { throw EngineError("constant '\(c.name)' has no weights") }
            guard w.shape.map(Dim.fixed) == c.shape else {
                throw EngineError("constant '\(c.name)' has weights of shape \(w.shape), but the model records \(c.shape.map(\.description))")
            }
        }
        try graph.validate()
        try graph.checkShapes()
    }

    /// Runs the model on named inputs (graph input names) and returns every graph output by name.
    /// - Throws: `EngineError` if an input is missing or its shape does not fit the graph.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        if general != nil {
            var out: [String: Tensor] = [:]
            for (name, t) in try run(typed: feeds.mapValues(TypedTensor.init)) {
                guard let f = t.floatTensor else { throw EngineError("output '\(name)' is \(t.dtype); read it with run(typed:)") }
                out[name] = f
            }
            return out
        }
        lock.lock()
        defer { lock.unlock() }
        var values: [String: (buffer: Buffer?, view: View)] = [:]
        var symbols: [String: Int] = [:]
        var keep: [Buffer] = []
        for input in graph.inputs {
            guard let t = feeds[input.name] else {
                throw EngineError("missing input '\(input.name)' (expected \(input))")
            }
            guard t.shape.count == input.shape.count else {
                throw EngineError("input '\(input.name)' has shape \(t.shape), expected rank \(input.shape.count) (\(input))")
            }
            for (d, (actual, expected)) in zip(t.shape, input.shape).enumerated() {
                switch expected {
                case .fixed(let v) where v != actual:
                    throw EngineError("input '\(input.name)' has shape \(t.shape), expected \(input.shape.map(\.description)) (dimension \(d) must be \(v))")
                case .symbol(let s):
                    if let bound = symbols[s], bound != actual {
                        throw EngineError("input '\(input.name)' dimension \(d) is \(actual), but '\(s)' is \(bound) elsewhere")
                    }
                    symbols[s] = actual
                default: break
                }
            }
            let b = pool.take(t.count)
            t.values.withUnsafeBufferPointer { src in _ = b.mutable(t.count).update(fromContentsOf: src) }
            keep.append(b)
            values[input.name] = (nil, b.view(t.shape))
        }
        for unknown in feeds.keys where !graph.inputs.contains(where: { $0.name == unknown }) {
            throw EngineError("unknown input '\(unknown)' (the model's inputs are: \(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        for c in graph.constants {
            let w = weights[c.name]!
            values[c.name] = (nil, View(shape: w.shape, data: w.values))
        }
        let key = graph.inputs.map { feeds[$0.name]!.shape }
        var shapes = shapeCache[key] ?? []
        let cached = !shapes.isEmpty
        for (i, step) in steps.enumerated() {
            let ins = step.inputs.map { $0.isEmpty ? nil : values[$0]?.view }
            let outShape: [Int]
            if cached {
                outShape = shapes[i]
            } else {
                let present = ins.compactMap { $0 }
                outShape = try ShapeInference.outputShape(of: step.node, inputs: present.map { $0.shape.map(Dim.fixed) }).map { d -> Int in
                    guard let v = d.fixedValue else { preconditionFailure("concrete inputs give concrete shapes") }
                    return v
                }
                shapes.append(outShape)
            }
            let count = outShape.reduce(1, *)
            let buffer = pool.take(count)
            let started = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            if kernels == .reference || !FastKernels.run(step, ins, buffer.mutable(count), outShape, scratch) {
                Self.execute(step, ins, buffer.mutable(count), outShape)
            }
            if profiling {
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                profile[step.node.op, default: 0] += ms
                nodeProfile["\(step.node.name) \(step.node.op.rawValue) \(outShape)", default: 0] += ms
            }
            values[step.output] = (buffer, buffer.view(outShape))
            for v in Set(step.inputs) where !v.isEmpty && lastUse[v] == i {
                if let b = values[v]?.buffer { pool.give(b) }
                values[v] = nil
            }
        }
        if !cached { shapeCache[key] = shapes }
        var out: [String: Tensor] = [:]
        for o in graph.outputs {
            guard let v = values[o.name]?.view else { throw EngineError("output '\(o.name)' was not computed") }
            out[o.name] = Tensor(shape: v.shape, values: Array(v.data))
        }
        for (_, v) in values { if let b = v.buffer { pool.give(b) } }
        for b in keep { pool.give(b) }
        return out
    }

    /// Runs the model on inputs of any element type and returns every output in its own type.
    public func run(typed feeds: [String: TypedTensor]) throws -> [String: TypedTensor] {
        guard let general else {
            var floats: [String: Tensor] = [:]
            for (name, t) in feeds {
                guard let f = t.floatTensor else { throw EngineError("input '\(name)' is \(t.dtype), expected float32") }
                floats[name] = f
            }
            return try run(floats).mapValues(TypedTensor.init)
        }
        lock.lock()
        defer { lock.unlock() }
        return try general.run(feeds)
    }

    /// Dispatches one step to its reference kernel. The switch is exhaustive over the kernels, so a new
    /// op without a kernel does not build.
    static func execute(_ step: Step, _ ins: [View?], _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let x = ins[0]!
        let bias = ins.count > 2 ? ins[2] : nil
        switch step.kernel {
        case .conv(let p): ConvolutionKernels.conv2d(x, ins[1]!, bias, p, out, outShape)
        case .depthwise(let p): ConvolutionKernels.depthwise(x, ins[1]!, bias, p, out, outShape)
        case .convTranspose(let p): ConvolutionKernels.transpose(x, ins[1]!, bias, p, out, outShape)
        case .dense(let a): DenseKernels.dense(x, ins[1]!, bias, a, out)
        case .matmul(let ta, let tb): DenseKernels.matmul(x, ins[1]!, transposeA: ta, transposeB: tb, out, outShape)
        case .pool(let k, let p, let isMax): PoolingKernels.pool(x, kernel: k, p, max: isMax, out, outShape)
        case .globalPool(let isMax): PoolingKernels.global(x, max: isMax, out)
        case .unary(let f): ElementwiseKernels.unary(x, f, out)
        case .binary(let f, let a): ElementwiseKernels.binary(x, ins[1]!, f, a, out, outShape)
        case .clamp(let lo, let hi): ElementwiseKernels.clamp(x, min: lo, max: hi, out)
        case .cast(let t): ElementwiseKernels.cast(x, to: t, out)
        case .pad(let pads, let mode, let value): LayoutKernels.pad(x, pads: pads, mode: mode, value: value, out, outShape)
        case .reshape: for i in 0..<x.count { out[i] = x.data[i] }
        case .transpose(let perm): LayoutKernels.transpose(x, perm: perm, out, outShape)
        case .concat(let axis): LayoutKernels.concat(ins.compactMap { $0 }, axis: axis < 0 ? axis + outShape.count : axis, out, outShape)
        case .softmax(let axis): ReductionKernels.softmax(x, axis: axis < 0 ? axis + x.shape.count : axis, out)
        case .resize(let p): ResizeKernels.resize(x, p, out, outShape)
        case .slice(let b, let e, let s): LayoutKernels.slice(x, begins: b, ends: e, strides: s, out, outShape)
        case .reduce(let axes, let f):
            ReductionKernels.reduce(x, axes: axes.map { $0 < 0 ? $0 + x.shape.count : $0 }, f, out, outShape.reduce(1, *))
        }
    }
}
