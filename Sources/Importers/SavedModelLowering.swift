import Foundation
import Formats

struct Lowering {
    enum Value { case ir(String), const(TFTensor), resource(String), image(ImageTrace), list(PendingList), none }

    let model: TFModel
    let file: String
    let b = GraphBuilder()
    var memo: [String: [Value]] = [:]
    var resources: [String: String] = [:]
    var unsupported: [String: (Int, String)] = [:]
    var loweredOps = 0
    var scopeCounter = 0
    /// Function calls being lowered, one inside the other (each is a level of recursion).
    var callDepth = 0
    static let maxCallDepth = 64
    /// The image input a string-input signature's decode/resize/normalise steps became, if any.
    var imageInput: ImageInput?
    /// Whether that signature took base64 text (DecodeBase64) rather than JPEG bytes.
    var imageBase64 = false
    /// Functions lowered for `While`/`If` nodes (format 2.0's function library).
    var library: [String: ModelGraph] = [:]
    /// Whether the signature takes encoded images (strings): then a float list reserved for `tf.map_fn` is the
    /// decoded-image batch the image input replaces (SavedModelImageSignature), not a list of tensors.
    var tracesImages = false
    /// Element types of lists reserved with an unknown element shape, by reserving node, as loop bodies write them.
    var discoveredLists: [String: ValueInfo] = [:]

    init(model: TFModel, file: String) {
        self.model = model
        self.file = file
    }

    func fail(_ m: String) -> FormatsError { FormatsError(.graphInvalid, m, file: file) }

    /// A constant read as a shape, axis, size or index: refused unless it is a whole number of sensible size
    /// (NaN, infinities and values past ±2^40 would trap Int conversion or every size computed from them).
    func whole(_ v: Double) throws -> Int {
        guard v.isFinite, v == v.rounded(), abs(v) <= Double(1 << 40) else {
            throw fail("a constant used as a shape, axis or index holds \(v), which is not a whole number below 2^40")
        }
        return Int(v)
    }

    /// A 4-element NHWC attribute (`strides`, `dilations`, `ksize`), or its default.
    func nhwc(_ n: TFNode, _ key: String) throws -> [Int] {
        guard let v = n.attrs[key]?.ints else { return [1, 1, 1, 1] }
        guard v.count == 4 else { throw fail("\(n.op) '\(n.name)' has \(key) \(v); expected 4 values (NHWC)") }
        return v
    }

    mutating func lower(signature name: String) throws -> LoweredModel {
        guard let sig = model.signatures[name] else {
            throw FormatsError(.manifestInvalid, "has no signature '\(name)' (it has: \(model.signatures.keys.sorted().joined(separator: ", ")))", file: file)
        }
        // Bind the main graph's captured variables: the trailing inputs of each top-level call ↔ bound_inputs.
        for node in model.nodes.values where node.op == "StatefulPartitionedCall" || node.op == "PartitionedCall" {
            guard case .fn(let f)? = node.attrs["f"], let bound = model.boundInputs[f], !bound.isEmpty else { continue }
            let data = node.inputs.filter { !$0.hasPrefix("^") }
            for (k, id) in bound.enumerated() where data.count - bound.count + k >= 0 {
                let handle = String(data[data.count - bound.count + k].split(separator: ":")[0])
                if let key = model.checkpointKeys[id] { resources[handle] = key }
            }
        }
        var inputNames: [String: Value] = [:]
        for input in sig.inputs {
            let node = String(input.tensor.split(separator: ":")[0])
            if input.dtype == 7 {  // DT_STRING: encoded images, followed by `trace` until they reach the model
                tracesImages = true
                inputNames[node] = .image(ImageTrace(stage: .strings, input: input.key, inputShape: input.shape ?? [-1]))
                continue
            }
            guard let dtype = Self.dtype(input.dtype) else {
                throw FormatsError(.unsupportedDType, "signature '\(name)' input '\(input.key)' is \(SavedModelInfo.dtypeName(input.dtype)); Skiff models take float32, int32, int64, uint8 or bool tensors, or encoded images (string)", file: file)
            }
            let dims: [Dim] = (input.shape ?? []).enumerated().map { i, d in d < 0 ? (i == 0 ? .batch : .symbol("d\(i)")) : .fixed(d) }
            inputNames[node] = .ir(b.input(input.key, dtype, dims))
        }
        var outputs: [String] = []
        do {
            for (key, tensor) in sig.outputs {
                let v = try value(ref: tensor, scope: "", nodes: model.nodes, args: [:], inputs: inputNames, function: nil)
                guard case .ir(let name) = v else { throw fail("signature output '\(key)' is a constant; nothing to compute") }
                outputs.append(b.rename(name, to: key))
            }
        } catch where !unsupported.isEmpty && !Self.isStructural(error) {
            // Report every unsupported op at once rather than the first thing that tripped over one.
        }
        if !unsupported.isEmpty {
            let list = unsupported.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value.0) (e.g. '\($0.value.1)')" }
            throw FormatsError(.graphInvalid, "uses TensorFlow ops Skiff cannot convert: \(list.joined(separator: ", "))", file: file)
        }
        var lowered = b.finish(outputs: outputs, functions: library.isEmpty ? nil : library)
        lowered.pruneConstants()
        return lowered
    }

    /// Resolves an input reference in a scope: graph form "node[:k]", function form "arg" or "node:out:i".
    mutating func value(ref: String, scope: String, nodes: [String: TFNode], args: [String: Value], inputs: [String: Value], function: TFFunction?) throws -> Value {
        let parts = ref.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if function != nil, parts.count == 1, let a = args[parts[0]] { return a }
        let nodeName = parts[0]
        if function == nil, let input = inputs[nodeName] { return input }
        guard let node = nodes[nodeName] else { throw fail("'\(ref)' names no node\(function.map { " in function \($0.name)" } ?? "")") }
        let index = parts.count == 3 ? TFOpDefs.outputIndex(op: node.op, arg: parts[1], index: Int(parts[2]) ?? 0) : parts.count == 2 ? Int(parts[1]) ?? 0 : 0
        let outs = try evaluate(node, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function)
        guard index < outs.count else { throw fail("'\(ref)' asks for output \(index) of \(node.op) '\(node.name)', which has \(outs.count)") }
        return outs[index]
    }

    /// Evaluates `root` after every node of its scope it depends on. The walk over the graph is iterative
    /// (post-order, in input order), so a deep graph cannot overflow the stack, and a cycle is an error
    /// naming a node on it; recursion is left only for function calls, whose nesting is capped.
    mutating func evaluate(_ root: TFNode, scope: String, nodes: [String: TFNode], args: [String: Value], inputs: [String: Value], function: TFFunction?) throws -> [Value] {
        if let m = memo[scope + "/" + root.name] { return m }
        func dependencies(_ n: TFNode) -> [TFNode] {
            // A TF1 loop is lowered whole from an Exit (its inputs are the loop's own cycle): lowerTF1Loop evaluates what enters it.
            if Self.tf1Exit.contains(n.op) { return [] }
            return n.inputs.compactMap { r in
                guard !r.hasPrefix("^") else { return nil }
                let parts = r.split(separator: ":", omittingEmptySubsequences: false)
                let name = String(parts[0])
                if function != nil, parts.count == 1, args[name] != nil { return nil }
                if function == nil, inputs[name] != nil { return nil }
                guard let d = nodes[name], memo[scope + "/" + name] == nil else { return nil }  // unknown names fail in value(ref:)
                return d
            }
        }
        var path: [(node: TFNode, dependencies: [TFNode], next: Int)] = [(root, dependencies(root), 0)]
        var onPath: Set<String> = [root.name], done: Set<String> = []
        var order: [TFNode] = []
        while let last = path.indices.last {
            if path[last].next < path[last].dependencies.count {
                let d = path[last].dependencies[path[last].next]
                path[last].next += 1
                if done.contains(d.name) { continue }
                if onPath.contains(d.name) {
                    throw cycle(Array(path.map(\.node).drop(while: { $0.name != d.name })), in: function)
                }
                onPath.insert(d.name)
                path.append((d, dependencies(d), 0))
            } else {
                let n = path.removeLast().node
                onPath.remove(n.name)
                done.insert(n.name)
                order.append(n)
            }
        }
        var out: [Value] = []
        for n in order { out = try evaluateOne(n, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function) }
        return out
    }

    /// Cycles and runaway nesting are reported as they are, not folded into the unsupported-ops list.
    static func isStructural(_ error: any Error) -> Bool {
        guard let e = error as? FormatsError else { return false }
        return e.code == .graphCycle || e.code == .graphTooDeep
    }

    /// TF1 graph-mode control flow: the ops `tf.while_loop` and `tf.cond` become in a GraphDef.
    static let tf1ControlFlow: Set<String> = ["NextIteration", "Enter", "Exit", "Switch", "Merge", "RefEnter", "RefExit", "RefSwitch", "RefMerge", "RefNextIteration", "LoopCond"]

    /// The error for a cycle through `nodes` (in dependency order).
    func cycle(_ nodes: [TFNode], in function: TFFunction?) -> FormatsError {
        let names = (nodes + nodes.prefix(1)).map { "'\($0.name)'" }.prefix(8).joined(separator: " → ")
        let place = function.map { " of function \($0.name)" } ?? ""
        // Name the loop's back edge when there is one, else any TF1 control-flow op on the cycle.
        if let flow = nodes.first(where: { $0.op.hasSuffix("NextIteration") }) ?? nodes.first(where: { Self.tf1ControlFlow.contains($0.op) }) {
            return FormatsError(.graphCycle, "the graph\(place) has a cycle through \(flow.op) '\(flow.name)' (\(names)) that is not a TF1 tf.while_loop frame Skiff recognises (Enter → Merge → Switch(LoopCond) → Exit, NextIteration back into Merge, the loop's values read through its Exits)", file: file)
        }
        return FormatsError(.graphCycle, "the graph\(place) has a cycle through \(nodes[0].op) '\(nodes[0].name)' (\(names)); a GraphDef must be acyclic", file: file)
    }

    /// Lowers one node whose dependencies in its scope are already evaluated.
    private mutating func evaluateOne(_ node: TFNode, scope: String, nodes: [String: TFNode], args: [String: Value], inputs: [String: Value], function: TFFunction?) throws -> [Value] {
        let key = scope + "/" + node.name
        if let m = memo[key] { return m }
        if Self.tf1Exit.contains(node.op) {
            return try lowerTF1Loop(exit: node, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function)
        }
        var ins: [Value] = []
        for r in node.inputs where !r.hasPrefix("^") {
            ins.append(try value(ref: r, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function))
        }
        let out: [Value]
        if Self.tf1Merge.contains(node.op), !ins.contains(where: { if case .none = $0 { true } else { false } }) {
            let name = String((scope + "/" + node.name).split(separator: "/").suffix(3).joined(separator: "/"))
            out = try lowerTF1Merge(node, ins, name, nodes: nodes, scope: scope, args: args, inputs: inputs, function: function)
        } else {
            out = try lowerOp(node, ins, scope: scope)
        }
        memo[key] = out
        return out
    }

    func float(_ t: TFTensor) -> [Float] { t.values.map(Float.init) }

    /// The IR computing a run-time shape value (int32).
    mutating func build(_ r: RunTimeShape, _ hint: String) throws -> String {
        switch r {
        case .shape(let x):
            return try b.add(.shape, hint + "/shape", [x], ["out_type": .string("int32")])
        case .pick(let base, let indices, let scalar):
            let v = try build(base, hint)
            let at = scalar ? b.constant(hint + "/at", dtype: .int32, shape: [], integers: [Int64(indices.first ?? 0)])
                            : b.constant(hint + "/at", dtype: .int32, shape: [indices.count], integers: indices.map(Int64.init))
            return try b.add(.gather, hint + "/pick", [v, at], ["axis": .int(0), "batch_dims": .int(0)])
        case .pack(let parts, let known):
            let scalars = try zip(parts, known).enumerated().map { k, p in
                try p.0.map { try build($0, hint + "/\(k)") } ?? b.constant(hint + "/known\(k)", dtype: .int32, shape: [], integers: [Int64(try whole(p.1))])
            }
            return try b.add(.stack, hint + "/pack", scalars, ["axis": .int(0)])
        }
    }

    /// TF ops lowered (or folded) here; the structural ones (calls, variables, Identity, Const, NoOp) are handled first.
    static let supported: Set<String> = ["Conv2D", "MatMul", "BiasAdd", "AddV2", "Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum",
                                         "Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Neg",
                                         "Softmax", "Mean", "Max", "Sum", "Reshape", "Squeeze", "ExpandDims", "FusedBatchNormV3", "FusedBatchNorm", "Cast",
                                         "DepthwiseConv2dNative", "MaxPool", "AvgPool", "Pad", "PadV2", "MirrorPad", "ConcatV2", "Transpose",
                                         "Shape", "StridedSlice", "Pack", "LeakyRelu", "ResizeBilinear", "ResizeNearestNeighbor",
                                         "Conv2DBackpropInput", "BatchMatMulV2", "BatchMatMulV3", "Einsum"]

    mutating func ir(_ v: Value, _ hint: String) throws -> String {
        switch v {
        case .ir(let n): return n
        case .const(let t):
            if t.symbolic {
                guard let r = t.runTime else { throw fail("'\(hint)' needs as a tensor a shape holding a dimension known only at run time") }
                let v = try build(r, hint)
                return t.dtype == 9 ? try b.add(.cast, hint + "/int64", [v], ["to": .string("int64")]) : v
            }
            if let d = Self.dtype(t.dtype), d != .float32 {
                return b.constant(hint, dtype: d, shape: t.shape, integers: try t.values.map { d == .bool ? ($0 != 0 ? 1 : 0) : Int64(try whole($0)) })
            }
            return b.constant(hint, shape: t.shape, values: float(t))
        case .resource: throw fail("'\(hint)' needs a tensor, not a variable handle")
        case .image(let t): throw fail("'\(hint)' uses the image signature input '\(t.input)' at step \(t.stage.rawValue)")
        case .list(let p): throw fail("'\(hint)' uses the list reserved by '\(p.node)' before anything written into it fixes its element shape")
        case .none: throw fail("'\(hint)' depends on an op Skiff cannot convert")
        }
    }

    mutating func lowerOp(_ n: TFNode, _ given: [Value], scope: String) throws -> [Value] {
        var ins = given
        func constIn(_ i: Int) -> TFTensor? { if i < ins.count, case .const(let t) = ins[i] { t } else { nil } }
        switch n.op {
        case "StatefulPartitionedCall", "PartitionedCall":
            guard case .fn(let f)? = n.attrs["f"], let fn = model.functions[f] else { throw fail("call '\(n.name)' names an unknown function") }
            guard callDepth < Self.maxCallDepth else {
                throw FormatsError(.graphTooDeep, "call '\(n.name)' to function \(f) is nested more than \(Self.maxCallDepth) calls deep (a function that calls itself?)", file: file)
            }
            callDepth += 1
            defer { callDepth -= 1 }
            scopeCounter += 1
            let inner = "\(scope)/\(n.name)#\(scopeCounter)"
            var bound: [String: Value] = [:]
            for (i, a) in fn.inputArgs.enumerated() where i < ins.count { bound[a] = ins[i] }
            return try fn.outputArgs.map { arg in
                guard let r = fn.ret[arg] else { throw fail("function \(f) does not return '\(arg)'") }
                return try value(ref: r, scope: inner, nodes: fn.nodes, args: bound, inputs: [:], function: fn)
            }
        case "VarHandleOp":
            guard let key = resources[n.name] else { throw fail("variable handle '\(n.name)' is not bound to a checkpoint value") }
            return [.resource(key)]
        case "ReadVariableOp":
            guard case .resource(let key)? = ins.first, let bundle = model.bundle, let e = bundle.entry(key) else { throw fail("'\(n.name)' reads a variable with no checkpoint value") }
            return [.const(TFTensor(dtype: e.dtype, shape: e.shape, values: try bundle.numbers(key)))]
        case "Identity", "StopGradient", "Snapshot": return [ins.first ?? .none]
        case "IdentityN": return ins
        case "Switch", "RefSwitch": return [ins.first ?? .none, ins.first ?? .none]  // a TF1 tf.cond's; its Merge selects
        case "NoOp": return []
        case "TensorListReserve" where tracesImages && n.attrs["element_dtype"].map({ if case .type(1) = $0 { true } else { false } }) ?? false:
            return [.image(ImageTrace(stage: .reservedList))]  // map_fn's output list, filled by a traced loop body
        case "Const":
            guard case .tensor(let t)? = n.attrs["value"] else { throw fail("Const '\(n.name)' has no value") }
            return [.const(t)]
        default: break
        }
        if ins.contains(where: { if case .image = $0 { true } else { false } }) {
            if let traced = try trace(n, ins, scope: scope) { return traced }
            for i in ins.indices { if case .image(let t) = ins[i] { ins[i] = .ir(try materialise(t, at: n)) } }
        }
        guard Self.supported.contains(n.op) || Self.typedSupported.contains(n.op) || Self.listOps.contains(n.op) else {
            unsupported[n.op, default: (0, n.name)].0 += 1
            return Array(repeating: .none, count: 6)
        }
        // Downstream of an op that could not be converted: keep walking (to list every unsupported op) but build nothing.
        if ins.contains(where: { if case .none = $0 { true } else { false } }) { return Array(repeating: .none, count: 6) }
        loweredOps += 1
        let allConst = !ins.isEmpty && ins.allSatisfy { if case .const = $0 { true } else { false } }
        if n.op == "Shape", case .ir(let x)? = ins.first {
            let dims = b.shape(of: x).map { $0.fixedValue ?? -1 }
            guard dims.filter({ $0 < 0 }).count <= 1 else { throw fail("Shape '\(n.name)' has more than one dynamic dimension") }
            return [.const(TFTensor(dtype: 3, shape: [dims.count], values: dims.map(Double.init), symbolic: dims.contains(-1),
                                    runTime: dims.contains(-1) ? .shape(of: x) : nil))]
        }
        // Constant folding for arithmetic on constants (BatchNormalization's scale/shift, shapes).
        if allConst, let r = try fold(n, ins.compactMap { if case .const(let t) = $0 { t } else { nil } }) { return [.const(r)] }
        let name = String((scope + "/" + n.name).split(separator: "/").suffix(3).joined(separator: "/"))
        if let typed = try lowerTyped(n, ins, name) { return typed }
        if let list = try lowerList(n, ins, name) { return list }
        switch n.op {
        case "Conv2D":
            let strides = try nhwc(n, "strides"), dil = try nhwc(n, "dilations")
            guard (n.attrs["data_format"]?.string ?? "NHWC") == "NHWC" else { throw fail("Conv2D '\(n.name)' is not NHWC") }
            var attrs: [String: Attribute] = ["strides": .ints([strides[1], strides[2]]), "dilations": .ints([dil[1], dil[2]])]
            attrs.merge(try window(n)) { _, new in new }
            return [.ir(try b.add(.conv2d, name, [try ir(ins[0], name + "/x"), try ir(ins[1], name + "/kernel")], attrs))]
        case "DepthwiseConv2dNative":
            let strides = try nhwc(n, "strides"), dil = try nhwc(n, "dilations")
            guard let k = constIn(1), k.shape.count == 4, k.shape[3] == 1 else { throw fail("DepthwiseConv2dNative '\(n.name)' needs a constant filter with channel multiplier 1") }
            var attrs: [String: Attribute] = ["strides": .ints([strides[1], strides[2]]), "dilations": .ints([dil[1], dil[2]])]
            attrs.merge(try window(n)) { _, new in new }
            return [.ir(try b.add(.depthwiseConv2d, name, [try ir(ins[0], name + "/x"), b.constant(name + "/kernel", shape: k.shape, values: float(k))], attrs))]
        case "MaxPool", "AvgPool":
            let k = try nhwc(n, "ksize"), st = try nhwc(n, "strides")
            var attrs: [String: Attribute] = ["kernel": .ints([k[1], k[2]]), "strides": .ints([st[1], st[2]])]
            attrs.merge(try window(n)) { _, new in new }
            return [.ir(try b.add(n.op == "MaxPool" ? .maxPool2d : .avgPool2d, name, [try ir(ins[0], name + "/x")], attrs))]
        case "Pad", "PadV2", "MirrorPad":
            guard let p = constIn(1) else { throw fail("\(n.op) '\(n.name)' has non-constant paddings") }
            var attrs: [String: Attribute] = ["pads": .ints(try p.values.map { try whole($0) })]
            if n.op == "MirrorPad" { attrs["mode"] = .string((n.attrs["mode"]?.string ?? "REFLECT").lowercased()) }
            if n.op == "PadV2", let v = constIn(2)?.values.first { attrs["value"] = .float(v) }
            return [.ir(try b.add(.pad, name, [try ir(ins[0], name + "/x")], attrs))]
        case "ConcatV2":
            guard let axis = try constIn(ins.count - 1)?.values.first.map({ try whole($0) }) else { throw fail("ConcatV2 '\(n.name)' has a non-constant axis") }
            let parts = try ins.dropLast().enumerated().map { i, v in try ir(v, name + "/in\(i)") }
            return [.ir(try b.add(.concat, name, parts, ["axis": .int(axis)]))]
        case "Transpose":
            guard let perm = constIn(1) else { throw fail("Transpose '\(n.name)' has a non-constant permutation") }
            return [.ir(try b.add(.transpose, name, [try ir(ins[0], name + "/x")], ["perm": .ints(try perm.values.map { try whole($0) })]))]
        case "MatMul":
            if n.attrs["transpose_a"]?.bool != true, n.attrs["transpose_b"]?.bool != true, let k = constIn(1) {
                return [.ir(try b.add(.dense, name, [try ir(ins[0], name + "/x"), b.constant(name + "/kernel", shape: k.shape, values: float(k))]))]
            }
            return [.ir(try b.add(.matmul, name, [try ir(ins[0], name + "/a"), try ir(ins[1], name + "/b")],
                                  ["transpose_a": .bool(n.attrs["transpose_a"]?.bool ?? false), "transpose_b": .bool(n.attrs["transpose_b"]?.bool ?? false)]))]
        case "BiasAdd", "AddV2", "Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum":
            let f = ["BiasAdd": "add", "AddV2": "add", "Add": "add", "Sub": "sub", "Mul": "mul", "RealDiv": "div", "Maximum": "max", "Minimum": "min"][n.op]!
            return [.ir(try b.add(.binary, name, [try ir(ins[0], name + "/a"), try ir(ins[1], name + "/b")], ["function": .string(f)]))]
        case "Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Neg":
            let f = ["Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Elu": "elu", "Selu": "selu", "Softplus": "softplus",
                     "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Rsqrt": "rsqrt", "Square": "square", "Neg": "neg"][n.op]!
            return [.ir(try b.add(.unary, name, [try ir(ins[0], name + "/x")], ["function": .string(f)]))]
        case "LeakyRelu":
            return [.ir(try b.add(.unary, name, [try ir(ins[0], name + "/x")], ["function": .string("leaky_relu"), "alpha": .float(n.attrs["alpha"]?.float ?? 0.2)]))]
        case "ResizeBilinear", "ResizeNearestNeighbor":
            guard let size = constIn(1), size.values.count == 2 else { throw fail("\(n.op) '\(n.name)' resizes to a size that is not a constant") }
            return [.ir(try b.add(.resize, name, [try ir(ins[0], name + "/x")], [
                "size": .ints(try size.values.map { try whole($0) }), "method": .string(n.op == "ResizeBilinear" ? "bilinear" : "nearest"),
                "align_corners": .bool(n.attrs["align_corners"]?.bool ?? false), "half_pixel_centers": .bool(n.attrs["half_pixel_centers"]?.bool ?? false)]))]
        case "Conv2DBackpropInput":
            return [.ir(try convTranspose(n, ins, name))]
        case "BatchMatMulV2", "BatchMatMulV3":
            let ta = n.attrs["adj_x"]?.bool ?? false, tb = n.attrs["adj_y"]?.bool ?? false
            if !ta, !tb, let k = constIn(1), k.shape.count == 2 {
                return [.ir(try b.add(.dense, name, [try ir(ins[0], name + "/x"), b.constant(name + "/kernel", shape: k.shape, values: float(k))]))]
            }
            return [.ir(try b.add(.matmul, name, [try ir(ins[0], name + "/a"), try ir(ins[1], name + "/b")], ["transpose_a": .bool(ta), "transpose_b": .bool(tb)]))]
        case "Einsum":
            return [.ir(try einsum(n, ins, name))]
        case "StridedSlice":
            return [.ir(try stridedSlice(n, ins, name))]
        case "Softmax":
            return [.ir(try b.add(.softmax, name, [try ir(ins[0], name + "/x")], ["axis": .int(-1)]))]
        case "Mean", "Max", "Sum":
            guard let axes = constIn(1) else { throw fail("\(n.op) '\(n.name)' has non-constant axes") }
            let f = ["Mean": "mean", "Max": "max", "Sum": "sum"][n.op]!
            return [.ir(try b.add(.reduce, name, [try ir(ins[0], name + "/x")],
                                  ["function": .string(f), "axes": .ints(try axes.values.map { try whole($0) }), "keepdims": .bool(n.attrs["keep_dims"]?.bool ?? false)]))]
        case "Reshape":
            guard let s = constIn(1) else { throw fail("Reshape '\(n.name)' has a non-constant shape") }
            return [.ir(try b.add(.reshape, name, [try ir(ins[0], name + "/x")], ["shape": .ints(try s.values.map { try whole($0) })]))]
        case "Squeeze", "ExpandDims":
            let x = try ir(ins[0], name + "/x")
            let dims = b.shape(of: x)
            guard dims.dropFirst().allSatisfy({ $0.fixedValue != nil }) else { throw fail("\(n.op) '\(n.name)' needs static shapes") }
            var target = dims.dropFirst().map { $0.fixedValue! }
            if n.op == "Squeeze" {
                let axes = Set((n.attrs["squeeze_dims"]?.ints ?? []).map { $0 < 0 ? $0 + dims.count : $0 })
                target = target.enumerated().filter { i, d in axes.isEmpty ? d != 1 : !axes.contains(i + 1) }.map(\.1)
            } else {
                guard let a = try constIn(1)?.values.first.map({ try whole($0) }) else { throw fail("ExpandDims '\(n.name)' has a non-constant axis") }
                let axis = a < 0 ? a + dims.count + 1 : a
                guard axis >= 1 else { throw fail("ExpandDims '\(n.name)' adds a batch axis") }
                target.insert(1, at: axis - 1)
            }
            return [.ir(try b.add(.reshape, name, [x], ["shape": .ints([-1] + target)]))]
        case "FusedBatchNormV3", "FusedBatchNorm":
            guard n.attrs["is_training"]?.bool == false, let scale = constIn(1), let offset = constIn(2), let mean = constIn(3), let variance = constIn(4) else {
                throw fail("\(n.op) '\(n.name)' is in training mode or has non-constant statistics")
            }
            let eps = n.attrs["epsilon"]?.float ?? 0.0001
            let mul = zip(scale.values, variance.values).map { $0 / ($1 + eps).squareRoot() }
            let add = (0..<mul.count).map { offset.values[$0] - mean.values[$0] * mul[$0] }
            let x = try ir(ins[0], name + "/x")
            let m = try b.add(.binary, name + "/scale", [x, b.constant(name + "/mul", shape: [mul.count], values: mul.map(Float.init))], ["function": .string("mul")])
            return [.ir(try b.add(.binary, name, [m, b.constant(name + "/add", shape: [add.count], values: add.map(Float.init))], ["function": .string("add")]))]
        case "Cast":
            return [ins[0]]  // float32 → float32 in the graphs Skiff converts; other casts are folded on constants
        default:
            unsupported[n.op, default: (0, n.name)].0 += 1
            return [.none, .none, .none, .none, .none, .none]
        }
    }

    /// `Conv2DBackpropInput(input_sizes, filter, out_backprop)` is a transposed convolution of `out_backprop`;
    /// the requested size beyond what SAME/VALID give becomes `output_padding`.
    mutating func convTranspose(_ n: TFNode, _ ins: [Value], _ name: String) throws -> String {
        guard ins.count == 3, case .const(let sizes) = ins[0], sizes.values.count == 4, case .const(let k) = ins[1], k.shape.count == 4 else {
            throw fail("Conv2DBackpropInput '\(n.name)' needs constant input_sizes and filter")
        }
        let strides = try nhwc(n, "strides"), dil = try nhwc(n, "dilations")
        let attrs = try window(n)
        guard attrs["padding"] != .string("explicit") else { throw fail("Conv2DBackpropInput '\(n.name)' uses EXPLICIT padding") }
        let x = try ir(ins[2], name + "/x")
        let xs = b.shape(of: x)
        guard xs.count == 4, let h = xs[1].fixedValue, let w = xs[2].fixedValue else { throw fail("Conv2DBackpropInput '\(n.name)' needs a static input size") }
        let same = attrs["padding"] == .string("same")
        let outPad = try [(h, 1), (w, 2)].map { input, i in
            let kk = (k.shape[i - 1] - 1) * dil[i] + 1, s = strides[i]
            let natural = same ? input * s : input * s + max(kk - s, 0)
            let p = try whole(sizes.values[i]) - natural
            guard p >= 0, p < max(s, 1) || p == 0 else { throw fail("Conv2DBackpropInput '\(n.name)' asks for size \(Int(sizes.values[i])) on axis \(i), which a stride-\(s) transposed convolution cannot give") }
            return p
        }
        var a = attrs
        a["strides"] = .ints([strides[1], strides[2]])
        a["dilations"] = .ints([dil[1], dil[2]])
        if outPad != [0, 0] { a["output_padding"] = .ints(outPad) }
        return try b.add(.conv2dTranspose, name, [x, b.constant(name + "/kernel", shape: k.shape, values: float(k))], a)
    }

    /// `Einsum` where it is a matrix product: "…ij,jk->…ik" (with either operand transposed, or shared batch
    /// letters in front); a constant two-letter right operand becomes a dense layer.
    mutating func einsum(_ n: TFNode, _ ins: [Value], _ name: String) throws -> String {
        let eq = (n.attrs["equation"]?.string ?? "").replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "...", with: ".")
        let sides = eq.components(separatedBy: "->"), lhs = sides.first?.components(separatedBy: ",") ?? []
        guard sides.count == 2, lhs.count == 2, ins.count == 2 else { throw fail("Einsum '\(n.name)' equation '\(eq)' is not a product of two operands") }
        let a = Array(lhs[0]), bb = Array(lhs[1]), out = Array(sides[1])
        func notMatmul() -> FormatsError { fail("Einsum '\(n.name)' equation '\(n.attrs["equation"]?.string ?? "")' is not a matrix product Skiff can lower") }
        guard a.count >= 2, bb.count >= 2, out.count >= 2, Set(a).count == a.count, Set(bb).count == bb.count else { throw notMatmul() }
        let contracted = Set(a).intersection(bb).subtracting(out)
        guard contracted.count == 1, let c = contracted.first else { throw notMatmul() }
        // Dense: a constant [c, o] (or [o, c]) right operand contracting a's last letter.
        if case .const(let k) = ins[1], bb.count == 2, a.last == c, let o = bb.first(where: { $0 != c }), out == Array(a.dropLast()) + [o] {
            let kernel = bb[0] == c ? k : TFTensor(dtype: k.dtype, shape: [k.shape[1], k.shape[0]],
                                                  values: (0..<k.shape[1]).flatMap { j in (0..<k.shape[0]).map { i in k.values[i * k.shape[1] + j] } })
            return try b.add(.dense, name, [try ir(ins[0], name + "/x"), b.constant(name + "/kernel", shape: kernel.shape, values: float(kernel))])
        }
        // Batched matmul: the same leading batch letters everywhere, then two matrix letters each.
        let batch = Array(out.dropLast(2))
        guard Array(a.dropLast(2)) == batch, Array(bb.dropLast(2)) == batch else { throw notMatmul() }
        let (m, nn) = (out[out.count - 2], out[out.count - 1])
        let am = Array(a.suffix(2)), bm = Array(bb.suffix(2))
        guard Set(am) == [m, c], Set(bm) == [c, nn] else { throw notMatmul() }
        return try b.add(.matmul, name, [try ir(ins[0], name + "/a"), try ir(ins[1], name + "/b")],
                         ["transpose_a": .bool(am[0] == c), "transpose_b": .bool(bm[1] == c)])
    }

    /// `StridedSlice` on a tensor: masks expanded to per-axis begins/ends/strides (positive strides), shrunk
    /// axes removed by a reshape. `x[..., :5]`, `x[:, 1:-1]`, `x[:, 0]`.
    mutating func stridedSlice(_ n: TFNode, _ ins: [Value], _ name: String) throws -> String {
        guard ins.count == 4, case .const(let bg) = ins[1], case .const(let en) = ins[2], case .const(let st) = ins[3],
              bg.values.count == en.values.count, bg.values.count == st.values.count else {
            throw fail("StridedSlice '\(n.name)' needs constant begin, end and strides of one length")
        }
        let x = try ir(ins[0], name + "/x")
        let dims = b.shape(of: x), rank = dims.count
        func bit(_ attr: String, _ i: Int) -> Bool { (n.attrs[attr]?.int ?? 0) >> i & 1 != 0 }
        let spec = bg.values.count
        guard (0..<spec).allSatisfy({ !bit("new_axis_mask", $0) }) else { throw fail("StridedSlice '\(n.name)' adds axes (new_axis_mask)") }
        var begins = Array(repeating: 0, count: rank), ends = Array(repeating: Int.max, count: rank), strides = Array(repeating: 1, count: rank)
        var shrink: [Int] = []
        var axis = 0
        for i in 0..<spec {
            if bit("ellipsis_mask", i) { axis += rank - (spec - 1); continue }
            guard axis < rank else { throw fail("StridedSlice '\(n.name)' indexes \(spec) axes of a rank-\(rank) tensor") }
            let (bv, ev, sv) = (try whole(bg.values[i]), try whole(en.values[i]), try whole(st.values[i]))
            guard sv >= 1 else { throw fail("StridedSlice '\(n.name)' has stride \(sv); Skiff slices with positive strides") }
            strides[axis] = sv
            if bit("shrink_axis_mask", i) {
                begins[axis] = bv
                ends[axis] = bv == -1 ? Int.max : bv + 1
                shrink.append(axis)
            } else {
                begins[axis] = bit("begin_mask", i) ? 0 : bv
                ends[axis] = bit("end_mask", i) ? Int.max : ev
            }
            axis += 1
        }
        let sliced = try b.add(.slice, shrink.isEmpty ? name : name + "/slice", [x], ["begins": .ints(begins), "ends": .ints(ends), "strides": .ints(strides)])
        guard !shrink.isEmpty else { return sliced }
        let out = b.shape(of: sliced)
        guard !shrink.contains(0), out.dropFirst().allSatisfy({ $0.fixedValue != nil }) else { throw fail("StridedSlice '\(n.name)' removes the batch axis or needs static shapes") }
        let target = out.enumerated().dropFirst().filter { !shrink.contains($0.offset) }.map { $0.element.fixedValue! }
        return try b.add(.reshape, name, [sliced], ["shape": .ints([-1] + target)])
    }

    /// SAME / VALID / EXPLICIT (NHWC `explicit_paddings` → top, bottom, left, right).
    func window(_ n: TFNode) throws -> [String: Attribute] {
        guard (n.attrs["data_format"]?.string ?? "NHWC") == "NHWC" else { throw fail("\(n.op) '\(n.name)' is not NHWC") }
        let pad = (n.attrs["padding"]?.string ?? "VALID").lowercased()
        guard pad == "explicit" else { return ["padding": .string(pad)] }
        guard let e = n.attrs["explicit_paddings"]?.ints, e.count == 8 else { throw fail("\(n.op) '\(n.name)' has EXPLICIT padding without 8 explicit_paddings") }
        return ["padding": .string("explicit"), "pads": .ints(Array(e[2..<6]))]
    }

    /// Elementwise arithmetic on constants with TF broadcasting of a scalar or same-shape operand.
    func fold(_ n: TFNode, _ c: [TFTensor]) throws -> TFTensor? {
        switch n.op {
        case "StridedSlice":
            guard c.count == 4, c[0].shape.count == 1, [c[1], c[2], c[3]].allSatisfy({ $0.values.count == 1 }) else {
                throw fail("StridedSlice '\(n.name)' is only folded on 1-D shape vectors")
            }
            guard (n.attrs["ellipsis_mask"]?.int ?? 0) == 0, (n.attrs["new_axis_mask"]?.int ?? 0) == 0 else { throw fail("StridedSlice '\(n.name)' uses ellipsis/new-axis masks") }
            let count = c[0].values.count, stride = try whole(c[3].values[0])
            guard stride == 1 else { throw fail("StridedSlice '\(n.name)' has stride \(stride)") }
            func clampIndex(_ v: Int) -> Int { min(max(v < 0 ? v + count : v, 0), count) }
            var begin = (n.attrs["begin_mask"]?.int ?? 0) & 1 != 0 ? 0 : clampIndex(try whole(c[1].values[0]))
            var end = (n.attrs["end_mask"]?.int ?? 0) & 1 != 0 ? count : clampIndex(try whole(c[2].values[0]))
            if (n.attrs["shrink_axis_mask"]?.int ?? 0) & 1 != 0 { begin = clampIndex(try whole(c[1].values[0])); end = begin + 1 }
            guard begin <= end, end <= count else { return TFTensor(dtype: c[0].dtype, shape: [0], values: []) }
            let v = Array(c[0].values[begin..<end])
            let shrink = (n.attrs["shrink_axis_mask"]?.int ?? 0) & 1 != 0
            let symbolic = v.contains(-1) && c[0].symbolic
            return TFTensor(dtype: c[0].dtype, shape: shrink ? [] : [v.count], values: v, symbolic: symbolic,
                            runTime: symbolic ? c[0].runTime.map { .pick($0, Array(begin..<end), scalar: shrink) } : nil)
        case "Pack":
            guard c.allSatisfy({ $0.shape.isEmpty }) else { throw fail("Pack '\(n.name)' is only folded on scalars") }
            let symbolic = c.contains { $0.symbolic }
            return TFTensor(dtype: c.first?.dtype ?? 3, shape: [c.count], values: c.map { $0.values.first ?? 0 }, symbolic: symbolic,
                            runTime: symbolic && c.allSatisfy({ !$0.symbolic || $0.runTime != nil }) ? .pack(c.map { $0.symbolic ? $0.runTime : nil }, known: c.map { $0.values.first ?? 0 }) : nil)
        default:
            if c.contains(where: \.symbolic), n.op != "Reshape" {
                // Computed while running when every run-time part is known (the op is then lowered, not folded).
                if c.allSatisfy({ !$0.symbolic || $0.runTime != nil }) { return nil }
                throw fail("\(n.op) '\(n.name)' computes with a dimension known only at run time (the batch size)")
            }
        }
        func bin(_ f: (Double, Double) -> Double) -> TFTensor? {
            guard c.count == 2 else { return nil }
            let (a, b) = (c[0], c[1])
            if a.values.count == b.values.count { return TFTensor(dtype: a.dtype, shape: a.shape.count >= b.shape.count ? a.shape : b.shape, values: zip(a.values, b.values).map(f)) }
            if b.values.count == 1 { return TFTensor(dtype: a.dtype, shape: a.shape, values: a.values.map { f($0, b.values[0]) }) }
            if a.values.count == 1 { return TFTensor(dtype: b.dtype, shape: b.shape, values: b.values.map { f(a.values[0], $0) }) }
            return nil
        }
        func un(_ f: (Double) -> Double) -> TFTensor? { c.count == 1 ? TFTensor(dtype: c[0].dtype, shape: c[0].shape, values: c[0].values.map(f)) : nil }
        switch n.op {
        case "AddV2", "Add", "BiasAdd": return bin(+)
        case "Sub": return bin(-)
        case "Mul": return bin(*)
        case "RealDiv": return bin(/)
        case "Maximum": return bin { max($0, $1) }
        case "Minimum": return bin { min($0, $1) }
        case "Rsqrt": return un { 1 / $0.squareRoot() }
        case "Sqrt": return un { $0.squareRoot() }
        case "Square": return un { $0 * $0 }
        case "Neg": return un { -$0 }
        case "Reshape":
            guard c.count == 2 else { return nil }
            var shape = try c[1].values.map { try whole($0) }
            // Checked products: the shape comes from the file (each entry ≤ 2^40, so a plain product can overflow).
            if let i = shape.firstIndex(of: -1) {
                shape[i] = c[0].values.count / max(1, GraphLimits.elementCount(shape.filter { $0 != -1 }.map { .fixed($0) }) ?? Int.max)
            }
            guard GraphLimits.elementCount(shape.map { .fixed($0) }) == c[0].values.count else { throw fail("Reshape '\(n.name)' cannot give \(c[0].values.count) values the shape \(shape)") }
            return TFTensor(dtype: c[0].dtype, shape: shape, values: c[0].values)
        case "Squeeze":
            let axes = Set((n.attrs["squeeze_dims"]?.ints ?? []).map { $0 < 0 ? $0 + c[0].shape.count : $0 })
            return TFTensor(dtype: c[0].dtype, shape: c[0].shape.enumerated().filter { i, d in axes.isEmpty ? d != 1 : !axes.contains(i) }.map(\.1), values: c[0].values)
        case "ExpandDims":
            guard c.count == 2, let a = try c[1].values.first.map({ try whole($0) }) else { return nil }
            var shape = c[0].shape
            shape.insert(1, at: a < 0 ? a + shape.count + 1 : a)
            return TFTensor(dtype: c[0].dtype, shape: shape, values: c[0].values)
        case "Cast":
            guard c.count == 1 else { return nil }
            let to = n.attrs["DstT"].flatMap { if case .type(let t) = $0 { t } else { nil } } ?? c[0].dtype
            let values = to == 10 ? c[0].values.map { $0 != 0 ? 1 : 0 } : Self.dtype(to).map { $0 != .float32 } == true ? c[0].values.map { $0.rounded(.towardZero) } : c[0].values
            return TFTensor(dtype: to, shape: c[0].shape, values: values, symbolic: c[0].symbolic)
        default: return nil
        }
    }
}
