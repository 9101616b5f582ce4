import CSavedModelProto
import Foundation

/// Lowers a SavedModel signature to the IR: the signature's call is inlined through nested
/// (Stateful)PartitionedCall functions, variables are bound through the object graphs (never by bare name),
/// constant subgraphs are folded, and the remaining TF ops become IR nodes.
public enum SavedModelReader {
    public static func read(directory: String, signature: String = "serving_default", version: Int? = nil) throws -> KerasReader.Result {
        let dir = try SavedModelInfo.resolve(directory, version: version)
        let model = try TFModel(dir: dir)
        var lowering = Lowering(model: model, file: dir + "/saved_model.pb")
        let lowered = try lowering.lower(signature: signature)
        let provenance = Provenance(sourceFile: URL(fileURLWithPath: dir).lastPathComponent, sourceSHA256: try? Digest.sha256Hex(file: dir + "/saved_model.pb"),
                                    sourceFormat: "savedmodel", framework: "tensorflow", frameworkVersion: model.tensorflowVersion,
                                    options: ["signature": signature])
        return KerasReader.Result(model: lowered, provenance: provenance, layerCount: lowering.loweredOps)
    }
}

// MARK: a Swift mirror of the parts of the protos the lowering needs

indirect enum TFAttr {
    case s(String), i(Int), f(Double), b(Bool), type(Int), shape([Int]?), tensor(TFTensor), ints([Int]), floats([Double]), types([Int]), fn(String), other
    var int: Int? { if case .i(let v) = self { v } else { nil } }
    var string: String? { if case .s(let v) = self { v } else { nil } }
    var ints: [Int]? { if case .ints(let v) = self { v } else { nil } }
    var bool: Bool? { if case .b(let v) = self { v } else { nil } }
    var float: Double? { if case .f(let v) = self { v } else { nil } }
}

struct TFTensor {
    var dtype: Int
    var shape: [Int]
    var values: [Double]
    /// Holds -1 for a dimension known only at run time (from `Shape` of the batch axis): usable as a reshape
    /// target, never in arithmetic.
    var symbolic = false
}

struct TFNode {
    var name: String
    var op: String
    var inputs: [String]
    var attrs: [String: TFAttr]
}

struct TFFunction {
    var name: String
    var inputArgs: [String]
    var outputArgs: [String]
    var nodes: [String: TFNode]
    var ret: [String: String]
}

struct TFModel {
    var tensorflowVersion: String?
    var nodes: [String: TFNode] = [:]
    var functions: [String: TFFunction] = [:]
    var signatures: [String: (inputs: [(String, String, [Int]?)], outputs: [(String, String)])] = [:]
    /// SavedObjectGraph: children (local name → node id) and variables per node.
    var objectChildren: [[(String, Int)]] = []
    var boundInputs: [String: [Int]] = [:]
    var checkpointKeys: [Int: String] = [:]
    var bundle: TensorBundle?

    init(dir: String) throws {
        let pb = dir + "/saved_model.pb"
        guard let data = FileManager.default.contents(atPath: pb) else { throw FormatsError(.io, "cannot read saved_model.pb", file: pb) }
        guard let sm = Array(data).withUnsafeBufferPointer({ skiff__tf__saved_model__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw FormatsError(.protobufInvalid, "is not a SavedModel protobuf", file: pb)
        }
        defer { skiff__tf__saved_model__free_unpacked(sm, nil) }
        guard sm.pointee.n_meta_graphs >= 1, let meta = sm.pointee.meta_graphs[0] else { throw FormatsError(.protobufInvalid, "has no MetaGraphDef", file: pb) }
        let str = ProtoC.string, shape = ProtoC.shape
        func tensor(_ t: UnsafeMutablePointer<Skiff__Tf__TensorProto>) -> TFTensor {
            let dtype = Int(t.pointee.dtype.rawValue)
            let dims = shape(t.pointee.tensor_shape) ?? []
            let n = dims.reduce(1, *)
            var values: [Double] = []
            let content = t.pointee.tensor_content
            if content.len > 0, let p = content.data {
                let raw = UnsafeRawBufferPointer(start: p, count: content.len)
                switch dtype {
                case 1: values = (0..<(content.len / 4)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self)) }
                case 3: values = (0..<(content.len / 4)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
                case 9: values = (0..<(content.len / 8)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                case 2: values = (0..<(content.len / 8)).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
                default: break
                }
            } else {
                switch dtype {
                case 1: values = (0..<Int(t.pointee.n_float_val)).map { Double(t.pointee.float_val[$0]) }
                case 2: values = (0..<Int(t.pointee.n_double_val)).map { t.pointee.double_val[$0] }
                case 3: values = (0..<Int(t.pointee.n_int_val)).map { Double(t.pointee.int_val[$0]) }
                case 9: values = (0..<Int(t.pointee.n_int64_val)).map { Double(t.pointee.int64_val[$0]) }
                case 10: values = (0..<Int(t.pointee.n_bool_val)).map { t.pointee.bool_val[$0] != 0 ? 1 : 0 }
                default: break
                }
                // TF fills missing trailing elements with the last value (none → zeros).
                if values.count < n { values += Array(repeating: values.last ?? 0, count: n - values.count) }
            }
            return TFTensor(dtype: dtype, shape: dims, values: Array(values.prefix(max(n, values.isEmpty ? 0 : n))))
        }
        func attr(_ a: UnsafeMutablePointer<Skiff__Tf__AttrValue>) -> TFAttr {
            switch a.pointee.value_case {
            case SKIFF__TF__ATTR_VALUE__VALUE_S: return .s(String(decoding: UnsafeBufferPointer(start: a.pointee.s.data, count: a.pointee.s.len), as: UTF8.self))
            case SKIFF__TF__ATTR_VALUE__VALUE_I: return .i(Int(a.pointee.i))
            case SKIFF__TF__ATTR_VALUE__VALUE_F: return .f(Double(a.pointee.f))
            case SKIFF__TF__ATTR_VALUE__VALUE_B: return .b(a.pointee.b != 0)
            case SKIFF__TF__ATTR_VALUE__VALUE_TYPE: return .type(Int(a.pointee.type.rawValue))
            case SKIFF__TF__ATTR_VALUE__VALUE_SHAPE: return .shape(shape(a.pointee.shape))
            case SKIFF__TF__ATTR_VALUE__VALUE_TENSOR: return .tensor(tensor(a.pointee.tensor))
            case SKIFF__TF__ATTR_VALUE__VALUE_FUNC: return .fn(str(a.pointee.func.pointee.name))
            case SKIFF__TF__ATTR_VALUE__VALUE_LIST:
                let l = a.pointee.list.pointee
                if l.n_i > 0 { return .ints((0..<Int(l.n_i)).map { Int(l.i[$0]) }) }
                if l.n_f > 0 { return .floats((0..<Int(l.n_f)).map { Double(l.f[$0]) }) }
                if l.n_type > 0 { return .types((0..<Int(l.n_type)).map { Int(l.type[$0].rawValue) }) }
                return .ints([])
            default: return .other
            }
        }
        func node(_ n: UnsafeMutablePointer<Skiff__Tf__NodeDef>) -> TFNode {
            var attrs: [String: TFAttr] = [:]
            for i in 0..<Int(n.pointee.n_attr) {
                guard let e = n.pointee.attr[i], let v = e.pointee.value else { continue }
                attrs[str(e.pointee.key)] = attr(v)
            }
            return TFNode(name: str(n.pointee.name), op: str(n.pointee.op), inputs: (0..<Int(n.pointee.n_input)).map { str(n.pointee.input[$0]) }, attrs: attrs)
        }
        tensorflowVersion = meta.pointee.meta_info_def.map { str($0.pointee.tensorflow_version) }
        if let g = meta.pointee.graph_def {
            for i in 0..<Int(g.pointee.n_node) { let n = node(g.pointee.node[i]!); nodes[n.name] = n }
            if let lib = g.pointee.library {
                for f in 0..<Int(lib.pointee.n_function) {
                    let fd = lib.pointee.function[f]!
                    guard let sig = fd.pointee.signature else { continue }
                    var body: [String: TFNode] = [:]
                    for i in 0..<Int(fd.pointee.n_node_def) { let n = node(fd.pointee.node_def[i]!); body[n.name] = n }
                    var ret: [String: String] = [:]
                    for i in 0..<Int(fd.pointee.n_ret) { ret[str(fd.pointee.ret[i]!.pointee.key)] = str(fd.pointee.ret[i]!.pointee.value) }
                    let name = str(sig.pointee.name)
                    functions[name] = TFFunction(name: name, inputArgs: (0..<Int(sig.pointee.n_input_arg)).map { str(sig.pointee.input_arg[$0]!.pointee.name) },
                                                 outputArgs: (0..<Int(sig.pointee.n_output_arg)).map { str(sig.pointee.output_arg[$0]!.pointee.name) },
                                                 nodes: body, ret: ret)
                }
            }
        }
        for s in 0..<Int(meta.pointee.n_signature_def) {
            guard let e = meta.pointee.signature_def[s], let d = e.pointee.value else { continue }
            let ins = (0..<Int(d.pointee.n_inputs)).map { i -> (String, String, [Int]?) in
                let t = d.pointee.inputs[i]!
                return (str(t.pointee.key), str(t.pointee.value.pointee.name), shape(t.pointee.value.pointee.tensor_shape))
            }.sorted { $0.0 < $1.0 }
            let outs = (0..<Int(d.pointee.n_outputs)).map { i in (str(d.pointee.outputs[i]!.pointee.key), str(d.pointee.outputs[i]!.pointee.value.pointee.name)) }.sorted { $0.0 < $1.0 }
            signatures[str(e.pointee.key)] = (ins, outs)
        }
        if let og = meta.pointee.object_graph_def {
            for i in 0..<Int(og.pointee.n_nodes) {
                let o = og.pointee.nodes[i]!
                objectChildren.append((0..<Int(o.pointee.n_children)).map { (str(o.pointee.children[$0]!.pointee.local_name), Int(o.pointee.children[$0]!.pointee.node_id)) })
            }
            for i in 0..<Int(og.pointee.n_concrete_functions) {
                let e = og.pointee.concrete_functions[i]!
                boundInputs[str(e.pointee.key)] = e.pointee.value.map { v in (0..<Int(v.pointee.n_bound_inputs)).map { Int(v.pointee.bound_inputs[$0]) } } ?? []
            }
        }
        let prefix = dir + "/variables/variables"
        if FileManager.default.fileExists(atPath: prefix + ".index") {
            let bundle = try TensorBundle(prefix: prefix)
            self.bundle = bundle
            try bindCheckpointKeys(bundle)
        }
    }

    /// The parallel walk of the SavedObjectGraph and the checkpoint's TrackableObjectGraph by local names:
    /// a saved object whose trackable twin has a VARIABLE_VALUE attribute gets that attribute's checkpoint key.
    mutating func bindCheckpointKeys(_ bundle: TensorBundle) throws {
        guard bundle.entry("_CHECKPOINTABLE_OBJECT_GRAPH") != nil else { return }
        let raw = try bundle.bytes("_CHECKPOINTABLE_OBJECT_GRAPH")
        // A scalar DT_STRING entry: varint64 length, 4-byte checksum of the lengths, then the bytes.
        var i = 0
        let length = ProtoC.varint(raw, &i, limit: raw.count) ?? -1
        i += 4
        guard length >= 0, i <= raw.count, length <= raw.count - i else { throw FormatsError(.bundleInvalid, "the checkpoint's object graph entry is malformed", file: bundle.prefix + ".index") }
        let bytes = Array(raw[i..<(i + length)])
        guard let graph = bytes.withUnsafeBufferPointer({ skiff__tf__trackable_object_graph__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw FormatsError(.protobufInvalid, "the checkpoint's object graph is not a TrackableObjectGraph", file: bundle.prefix + ".index")
        }
        defer { skiff__tf__trackable_object_graph__free_unpacked(graph, nil) }
        let str = ProtoC.string
        var visited = Set<Int>()
        var queue = [(0, 0)]
        while let (t, s) = queue.popLast() {
            guard t < Int(graph.pointee.n_nodes), s < objectChildren.count, visited.insert(t).inserted else { continue }
            let node = graph.pointee.nodes[t]!
            for a in 0..<Int(node.pointee.n_attributes) where str(node.pointee.attributes[a]!.pointee.name) == "VARIABLE_VALUE" {
                checkpointKeys[s] = str(node.pointee.attributes[a]!.pointee.checkpoint_key)
            }
            for c in 0..<Int(node.pointee.n_children) {
                let child = node.pointee.children[c]!
                let name = str(child.pointee.local_name)
                if let saved = objectChildren[s].first(where: { $0.0 == name }) { queue.append((Int(child.pointee.node_id), saved.1)) }
            }
        }
    }
}

// MARK: lowering

struct Lowering {
    enum Value { case ir(String), const(TFTensor), resource(String), none }

    let model: TFModel
    let file: String
    let b = GraphBuilder()
    var memo: [String: [Value]] = [:]
    var resources: [String: String] = [:]
    var unsupported: [String: (Int, String)] = [:]
    var loweredOps = 0
    var scopeCounter = 0

    init(model: TFModel, file: String) {
        self.model = model
        self.file = file
    }

    func fail(_ m: String) -> FormatsError { FormatsError(.graphInvalid, m, file: file) }

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
        var inputNames: [String: String] = [:]
        for (key, tensor, shape) in sig.inputs {
            let node = String(tensor.split(separator: ":")[0])
            let dims: [Dim] = (shape ?? []).enumerated().map { i, d in d < 0 ? (i == 0 ? .batch : .symbol("d\(i)")) : .fixed(d) }
            inputNames[node] = b.input(key, .float32, dims)
        }
        var outputs: [String] = []
        do {
            for (key, tensor) in sig.outputs {
                let v = try value(ref: tensor, scope: "", nodes: model.nodes, args: [:], inputs: inputNames, function: nil)
                guard case .ir(let name) = v else { throw fail("signature output '\(key)' is a constant; nothing to compute") }
                outputs.append(b.rename(name, to: key))
            }
        } catch where !unsupported.isEmpty {
            // Report every unsupported op at once rather than the first thing that tripped over one.
        }
        if !unsupported.isEmpty {
            let list = unsupported.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value.0) (e.g. '\($0.value.1)')" }
            throw FormatsError(.graphInvalid, "uses TensorFlow ops Skiff cannot convert: \(list.joined(separator: ", "))", file: file)
        }
        var lowered = b.finish(outputs: outputs)
        lowered.pruneConstants()
        return lowered
    }

    /// Resolves an input reference in a scope: graph form "node[:k]", function form "arg" or "node:out:i".
    mutating func value(ref: String, scope: String, nodes: [String: TFNode], args: [String: Value], inputs: [String: String], function: TFFunction?) throws -> Value {
        let parts = ref.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if function != nil, parts.count == 1, let a = args[parts[0]] { return a }
        let nodeName = parts[0]
        let index = parts.count == 3 ? Int(parts[2]) ?? 0 : parts.count == 2 ? Int(parts[1]) ?? 0 : 0
        if function == nil, let input = inputs[nodeName] { return .ir(input) }
        guard let node = nodes[nodeName] else { throw fail("'\(ref)' names no node\(function.map { " in function \($0.name)" } ?? "")") }
        let outs = try evaluate(node, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function)
        guard index < outs.count else { throw fail("'\(ref)' asks for output \(index) of \(node.op) '\(node.name)', which has \(outs.count)") }
        return outs[index]
    }

    mutating func evaluate(_ node: TFNode, scope: String, nodes: [String: TFNode], args: [String: Value], inputs: [String: String], function: TFFunction?) throws -> [Value] {
        let key = scope + "/" + node.name
        if let m = memo[key] { return m }
        var ins: [Value] = []
        for r in node.inputs where !r.hasPrefix("^") {
            ins.append(try value(ref: r, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function))
        }
        let out = try lowerOp(node, ins, scope: scope)
        memo[key] = out
        return out
    }

    func float(_ t: TFTensor) -> [Float] { t.values.map(Float.init) }

    /// TF ops lowered (or folded) here; the structural ones (calls, variables, Identity, Const, NoOp) are handled first.
    static let supported: Set<String> = ["Conv2D", "MatMul", "BiasAdd", "AddV2", "Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum",
                                         "Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Neg",
                                         "Softmax", "Mean", "Max", "Sum", "Reshape", "Squeeze", "ExpandDims", "FusedBatchNormV3", "FusedBatchNorm", "Cast",
                                         "DepthwiseConv2dNative", "MaxPool", "AvgPool", "Pad", "PadV2", "MirrorPad", "ConcatV2", "Transpose",
                                         "Shape", "StridedSlice", "Pack"]

    mutating func ir(_ v: Value, _ hint: String) throws -> String {
        switch v {
        case .ir(let n): return n
        case .const(let t): return b.constant(hint, shape: t.shape, values: float(t))
        case .resource: throw fail("'\(hint)' needs a tensor, not a variable handle")
        case .none: throw fail("'\(hint)' depends on an op Skiff cannot convert")
        }
    }

    mutating func lowerOp(_ n: TFNode, _ ins: [Value], scope: String) throws -> [Value] {
        func constIn(_ i: Int) -> TFTensor? { if i < ins.count, case .const(let t) = ins[i] { t } else { nil } }
        let allConst = !ins.isEmpty && ins.allSatisfy { if case .const = $0 { true } else { false } }
        switch n.op {
        case "StatefulPartitionedCall", "PartitionedCall":
            guard case .fn(let f)? = n.attrs["f"], let fn = model.functions[f] else { throw fail("call '\(n.name)' names an unknown function") }
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
            return [.const(TFTensor(dtype: e.dtype, shape: e.shape, values: try bundle.floats(key).map(Double.init)))]
        case "Identity", "StopGradient", "Snapshot": return [ins.first ?? .none]
        case "IdentityN": return ins
        case "NoOp": return []
        case "Const":
            guard case .tensor(let t)? = n.attrs["value"] else { throw fail("Const '\(n.name)' has no value") }
            return [.const(t)]
        default: break
        }
        guard Self.supported.contains(n.op) else {
            unsupported[n.op, default: (0, n.name)].0 += 1
            return Array(repeating: .none, count: 6)
        }
        // Downstream of an op that could not be converted: keep walking (to list every unsupported op) but build nothing.
        if ins.contains(where: { if case .none = $0 { true } else { false } }) { return Array(repeating: .none, count: 6) }
        loweredOps += 1
        if n.op == "Shape", case .ir(let x)? = ins.first {
            let dims = b.shape(of: x).map { $0.fixedValue ?? -1 }
            guard dims.filter({ $0 < 0 }).count <= 1 else { throw fail("Shape '\(n.name)' has more than one dynamic dimension") }
            return [.const(TFTensor(dtype: 3, shape: [dims.count], values: dims.map(Double.init), symbolic: dims.contains(-1)))]
        }
        // Constant folding for arithmetic on constants (BatchNormalization's scale/shift, shapes).
        if allConst, let r = try fold(n, ins.compactMap { if case .const(let t) = $0 { t } else { nil } }) { return [.const(r)] }
        let name = String((scope + "/" + n.name).split(separator: "/").suffix(3).joined(separator: "/"))
        switch n.op {
        case "Conv2D":
            let strides = n.attrs["strides"]?.ints ?? [1, 1, 1, 1], dil = n.attrs["dilations"]?.ints ?? [1, 1, 1, 1]
            guard (n.attrs["data_format"]?.string ?? "NHWC") == "NHWC" else { throw fail("Conv2D '\(n.name)' is not NHWC") }
            var attrs: [String: Attribute] = ["strides": .ints([strides[1], strides[2]]), "dilations": .ints([dil[1], dil[2]])]
            attrs.merge(try window(n)) { _, new in new }
            return [.ir(try b.add(.conv2d, name, [try ir(ins[0], name + "/x"), try ir(ins[1], name + "/kernel")], attrs))]
        case "DepthwiseConv2dNative":
            let strides = n.attrs["strides"]?.ints ?? [1, 1, 1, 1], dil = n.attrs["dilations"]?.ints ?? [1, 1, 1, 1]
            guard let k = constIn(1), k.shape.count == 4, k.shape[3] == 1 else { throw fail("DepthwiseConv2dNative '\(n.name)' needs a constant filter with channel multiplier 1") }
            var attrs: [String: Attribute] = ["strides": .ints([strides[1], strides[2]]), "dilations": .ints([dil[1], dil[2]])]
            attrs.merge(try window(n)) { _, new in new }
            return [.ir(try b.add(.depthwiseConv2d, name, [try ir(ins[0], name + "/x"), b.constant(name + "/kernel", shape: k.shape, values: float(k))], attrs))]
        case "MaxPool", "AvgPool":
            let k = n.attrs["ksize"]?.ints ?? [1, 1, 1, 1], st = n.attrs["strides"]?.ints ?? [1, 1, 1, 1]
            var attrs: [String: Attribute] = ["kernel": .ints([k[1], k[2]]), "strides": .ints([st[1], st[2]])]
            attrs.merge(try window(n)) { _, new in new }
            return [.ir(try b.add(n.op == "MaxPool" ? .maxPool2d : .avgPool2d, name, [try ir(ins[0], name + "/x")], attrs))]
        case "Pad", "PadV2", "MirrorPad":
            guard let p = constIn(1) else { throw fail("\(n.op) '\(n.name)' has non-constant paddings") }
            var attrs: [String: Attribute] = ["pads": .ints(p.values.map { Int($0) })]
            if n.op == "MirrorPad" { attrs["mode"] = .string((n.attrs["mode"]?.string ?? "REFLECT").lowercased()) }
            if n.op == "PadV2", let v = constIn(2)?.values.first { attrs["value"] = .float(v) }
            return [.ir(try b.add(.pad, name, [try ir(ins[0], name + "/x")], attrs))]
        case "ConcatV2":
            guard let axis = constIn(ins.count - 1)?.values.first.map({ Int($0) }) else { throw fail("ConcatV2 '\(n.name)' has a non-constant axis") }
            let parts = try ins.dropLast().enumerated().map { i, v in try ir(v, name + "/in\(i)") }
            return [.ir(try b.add(.concat, name, parts, ["axis": .int(axis)]))]
        case "Transpose":
            guard let perm = constIn(1) else { throw fail("Transpose '\(n.name)' has a non-constant permutation") }
            return [.ir(try b.add(.transpose, name, [try ir(ins[0], name + "/x")], ["perm": .ints(perm.values.map { Int($0) })]))]
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
        case "Softmax":
            return [.ir(try b.add(.softmax, name, [try ir(ins[0], name + "/x")], ["axis": .int(-1)]))]
        case "Mean", "Max", "Sum":
            guard let axes = constIn(1) else { throw fail("\(n.op) '\(n.name)' has non-constant axes") }
            let f = ["Mean": "mean", "Max": "max", "Sum": "sum"][n.op]!
            return [.ir(try b.add(.reduce, name, [try ir(ins[0], name + "/x")],
                                  ["function": .string(f), "axes": .ints(axes.values.map { Int($0) }), "keepdims": .bool(n.attrs["keep_dims"]?.bool ?? false)]))]
        case "Reshape":
            guard let s = constIn(1) else { throw fail("Reshape '\(n.name)' has a non-constant shape") }
            return [.ir(try b.add(.reshape, name, [try ir(ins[0], name + "/x")], ["shape": .ints(s.values.map { Int($0) })]))]
        case "Squeeze", "ExpandDims":
            let x = try ir(ins[0], name + "/x")
            let dims = b.shape(of: x)
            guard dims.dropFirst().allSatisfy({ $0.fixedValue != nil }) else { throw fail("\(n.op) '\(n.name)' needs static shapes") }
            var target = dims.dropFirst().map { $0.fixedValue! }
            if n.op == "Squeeze" {
                let axes = Set((n.attrs["squeeze_dims"]?.ints ?? []).map { $0 < 0 ? $0 + dims.count : $0 })
                target = target.enumerated().filter { i, d in axes.isEmpty ? d != 1 : !axes.contains(i + 1) }.map(\.1)
            } else {
                guard let a = constIn(1)?.values.first.map({ Int($0) }) else { throw fail("ExpandDims '\(n.name)' has a non-constant axis") }
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
            let count = c[0].values.count, stride = Int(c[3].values[0])
            guard stride == 1 else { throw fail("StridedSlice '\(n.name)' has stride \(stride)") }
            func clampIndex(_ v: Int) -> Int { min(max(v < 0 ? v + count : v, 0), count) }
            var begin = (n.attrs["begin_mask"]?.int ?? 0) & 1 != 0 ? 0 : clampIndex(Int(c[1].values[0]))
            var end = (n.attrs["end_mask"]?.int ?? 0) & 1 != 0 ? count : clampIndex(Int(c[2].values[0]))
            if (n.attrs["shrink_axis_mask"]?.int ?? 0) & 1 != 0 { begin = clampIndex(Int(c[1].values[0])); end = begin + 1 }
            guard begin <= end, end <= count else { return TFTensor(dtype: c[0].dtype, shape: [0], values: []) }
            let v = Array(c[0].values[begin..<end])
            let shrink = (n.attrs["shrink_axis_mask"]?.int ?? 0) & 1 != 0
            return TFTensor(dtype: c[0].dtype, shape: shrink ? [] : [v.count], values: v, symbolic: v.contains(-1) && c[0].symbolic)
        case "Pack":
            guard c.allSatisfy({ $0.shape.isEmpty }) else { throw fail("Pack '\(n.name)' is only folded on scalars") }
            return TFTensor(dtype: c.first?.dtype ?? 3, shape: [c.count], values: c.map { $0.values.first ?? 0 }, symbolic: c.contains { $0.symbolic })
        default:
            if c.contains(where: \.symbolic), n.op != "Reshape" {
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
            var shape = c[1].values.map { Int($0) }
            if let i = shape.firstIndex(of: -1) { shape[i] = c[0].values.count / max(1, shape.filter { $0 != -1 }.reduce(1, *)) }
            guard shape.reduce(1, *) == c[0].values.count else { throw fail("Reshape '\(n.name)' cannot give \(c[0].values.count) values the shape \(shape)") }
            return TFTensor(dtype: c[0].dtype, shape: shape, values: c[0].values)
        case "Squeeze":
            let axes = Set((n.attrs["squeeze_dims"]?.ints ?? []).map { $0 < 0 ? $0 + c[0].shape.count : $0 })
            return TFTensor(dtype: c[0].dtype, shape: c[0].shape.enumerated().filter { i, d in axes.isEmpty ? d != 1 : !axes.contains(i) }.map(\.1), values: c[0].values)
        case "ExpandDims":
            guard c.count == 2, let a = c[1].values.first.map({ Int($0) }) else { return nil }
            var shape = c[0].shape
            shape.insert(1, at: a < 0 ? a + shape.count + 1 : a)
            return TFTensor(dtype: c[0].dtype, shape: shape, values: c[0].values)
        case "Cast": return c.count == 1 ? c[0] : nil
        default: return nil
        }
    }
}
