import CSavedModelProto
import Foundation
import Formats

/// Lowers a SavedModel signature to the IR: the signature's call is inlined through nested
/// (Stateful)PartitionedCall functions, variables are bound through the object graphs (never by bare name),
/// constant subgraphs are folded, and the remaining TF ops become IR nodes.
public enum SavedModelReader {
    public static func read(directory: String, signature: String = "serving_default", tags: [String]? = nil, version: Int? = nil) throws -> KerasReader.Result {
        let dir = try SavedModelInfo.resolve(directory, version: version)
        let model = try TFModel(dir: dir, tags: tags)
        var lowering = Lowering(model: model, file: dir + "/saved_model.pb")
        let lowered = try lowering.lower(signature: signature)
        var options = ["signature": signature, "tags": (tags ?? ["serve"]).joined(separator: ",")]
        if lowering.imageInput != nil { options["signature_input"] = lowering.imageBase64 ? "web-safe base64 JPEG text" : "JPEG bytes" }
        let provenance = Provenance(sourceFile: URL(fileURLWithPath: dir).lastPathComponent, sourceSHA256: try? Digest.sha256Hex(file: dir + "/saved_model.pb"),
                                    sourceFormat: "savedmodel", framework: "tensorflow", frameworkVersion: model.tensorflowVersion,
                                    options: options)
        return KerasReader.Result(model: lowered, provenance: provenance, layerCount: lowering.loweredOps, image: lowering.imageInput)
    }
}

// MARK: a Swift mirror of the parts of the protos the lowering needs

indirect enum TFAttr {
    case s(String), i(Int), f(Double), b(Bool), type(Int), shape([Int]?), tensor(TFTensor), ints([Int]), floats([Double]), types([Int]), fn(String), fns([String]), other
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
    /// For a symbolic shape value: how to compute it while running, when an op needs it as a tensor.
    var runTime: RunTimeShape? = nil
}

/// A shape value (or part of one) known only while running: `Shape` of a value, elements picked from one, or
/// scalars packed with known numbers. Built into IR only when something needs it as a tensor, so a reshape to
/// `[batch, -1]` stays a reshape.
indirect enum RunTimeShape: Sendable {
    case shape(of: String)
    case pick(RunTimeShape, [Int], scalar: Bool)
    case pack([RunTimeShape?], known: [Double])
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
    /// Per signature: inputs (key, tensor, dtype, shape) and outputs (key, tensor), sorted by key.
    var signatures: [String: (inputs: [(key: String, tensor: String, dtype: Int, shape: [Int]?)], outputs: [(String, String)])] = [:]
    /// SavedObjectGraph: children (local name → node id) and variables per node.
    var objectChildren: [[(String, Int)]] = []
    var boundInputs: [String: [Int]] = [:]
    var checkpointKeys: [Int: String] = [:]
    var bundle: TensorBundle?
    /// Most elements a constant may be filled up to from fewer stored values (TensorProto's trailing fill).
    static let maxFilledConstant = 1 << 26

    /// - Parameter tags: the MetaGraph's tag set; nil takes the only MetaGraph, or the one tagged `serve`.
    init(dir: String, tags: [String]? = nil) throws {
        let pb = dir + "/saved_model.pb"
        guard let data = FileManager.default.contents(atPath: pb) else { throw FormatsError(.io, "cannot read saved_model.pb", file: pb) }
        guard let sm = Array(data).withUnsafeBufferPointer({ skiff__tf__saved_model__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw FormatsError(.protobufInvalid, "is not a SavedModel protobuf", file: pb)
        }
        defer { skiff__tf__saved_model__free_unpacked(sm, nil) }
        let str = ProtoC.string, shape = ProtoC.shape
        let metas = (0..<Int(sm.pointee.n_meta_graphs)).compactMap { sm.pointee.meta_graphs[$0] }
        guard !metas.isEmpty else { throw FormatsError(.protobufInvalid, "has no MetaGraphDef", file: pb) }
        func tagSet(_ m: UnsafeMutablePointer<Skiff__Tf__MetaGraphDef>) -> Set<String> {
            guard let info = m.pointee.meta_info_def else { return [] }
            return Set((0..<Int(info.pointee.n_tags)).map { str(info.pointee.tags[$0]) })
        }
        let wanted = tags.map(Set.init)
        guard let meta = wanted.map({ w in metas.first { tagSet($0) == w } }) ?? (metas.count == 1 ? metas[0] : metas.first { tagSet($0) == ["serve"] }) else {
            let have = metas.map { "{" + tagSet($0).sorted().joined(separator: ",") + "}" }.joined(separator: ", ")
            throw FormatsError(.manifestInvalid, "has no MetaGraph tagged {\((tags ?? ["serve"]).sorted().joined(separator: ","))} (it has: \(have)); choose one with --tag", file: pb)
        }
        func tensor(_ t: UnsafeMutablePointer<Skiff__Tf__TensorProto>) throws -> TFTensor {
            let dtype = Int(t.pointee.dtype.rawValue)
            let dims = shape(t.pointee.tensor_shape) ?? []
            // The shape is the file's claim: checked (no negative dims, no overflow) before anything is sized by it.
            guard let n = GraphLimits.elementCount(dims.map { .fixed($0) }) else {
                throw FormatsError(.absurdShape, "a constant tensor declares the shape \(dims) (each dimension must be 0…\(GraphLimits.maxDimension), at most \(GraphLimits.maxElements) elements)", file: pb)
            }
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
                // TF fills missing trailing elements with the last value (none → zeros). A few bytes can claim a
                // huge constant this way, so the filled size has a cap of its own.
                if values.count < n {
                    guard n <= TFModel.maxFilledConstant else {
                        throw FormatsError(.absurdShape, "a constant tensor of shape \(dims) gives \(values.count) of its \(n) values and asks for the rest to be filled; Skiff fills at most \(TFModel.maxFilledConstant)", file: pb)
                    }
                    values += Array(repeating: values.last ?? 0, count: n - values.count)
                }
            }
            return TFTensor(dtype: dtype, shape: dims, values: Array(values.prefix(n)))
        }
        func attr(_ a: UnsafeMutablePointer<Skiff__Tf__AttrValue>) throws -> TFAttr {
            switch a.pointee.value_case {
            case SKIFF__TF__ATTR_VALUE__VALUE_S: return .s(String(decoding: UnsafeBufferPointer(start: a.pointee.s.data, count: a.pointee.s.len), as: UTF8.self))
            case SKIFF__TF__ATTR_VALUE__VALUE_I: return .i(Int(a.pointee.i))
            case SKIFF__TF__ATTR_VALUE__VALUE_F: return .f(Double(a.pointee.f))
            case SKIFF__TF__ATTR_VALUE__VALUE_B: return .b(a.pointee.b != 0)
            case SKIFF__TF__ATTR_VALUE__VALUE_TYPE: return .type(Int(a.pointee.type.rawValue))
            case SKIFF__TF__ATTR_VALUE__VALUE_SHAPE: return .shape(shape(a.pointee.shape))
            case SKIFF__TF__ATTR_VALUE__VALUE_TENSOR: return .tensor(try tensor(a.pointee.tensor))
            case SKIFF__TF__ATTR_VALUE__VALUE_FUNC: return .fn(str(a.pointee.func.pointee.name))
            case SKIFF__TF__ATTR_VALUE__VALUE_LIST:
                let l = a.pointee.list.pointee
                if l.n_i > 0 { return .ints((0..<Int(l.n_i)).map { Int(l.i[$0]) }) }
                if l.n_f > 0 { return .floats((0..<Int(l.n_f)).map { Double(l.f[$0]) }) }
                if l.n_type > 0 { return .types((0..<Int(l.n_type)).map { Int(l.type[$0].rawValue) }) }
                if l.n_func > 0 { return .fns((0..<Int(l.n_func)).map { str(l.func[$0]!.pointee.name) }) }
                return .ints([])
            default: return .other
            }
        }
        func node(_ n: UnsafeMutablePointer<Skiff__Tf__NodeDef>) throws -> TFNode {
            var attrs: [String: TFAttr] = [:]
            for i in 0..<Int(n.pointee.n_attr) {
                guard let e = n.pointee.attr[i], let v = e.pointee.value else { continue }
                attrs[str(e.pointee.key)] = try attr(v)
            }
            return TFOpDefs.withDefaults(TFNode(name: str(n.pointee.name), op: str(n.pointee.op), inputs: (0..<Int(n.pointee.n_input)).map { str(n.pointee.input[$0]) }, attrs: attrs))
        }
        tensorflowVersion = meta.pointee.meta_info_def.map { str($0.pointee.tensorflow_version) }
        if let g = meta.pointee.graph_def {
            for i in 0..<Int(g.pointee.n_node) { let n = try node(g.pointee.node[i]!); nodes[n.name] = n }
            if let lib = g.pointee.library {
                for f in 0..<Int(lib.pointee.n_function) {
                    let fd = lib.pointee.function[f]!
                    guard let sig = fd.pointee.signature else { continue }
                    var body: [String: TFNode] = [:]
                    for i in 0..<Int(fd.pointee.n_node_def) { let n = try node(fd.pointee.node_def[i]!); body[n.name] = n }
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
            let ins = (0..<Int(d.pointee.n_inputs)).map { i -> (key: String, tensor: String, dtype: Int, shape: [Int]?) in
                let t = d.pointee.inputs[i]!
                return (str(t.pointee.key), str(t.pointee.value.pointee.name), Int(t.pointee.value.pointee.dtype.rawValue), shape(t.pointee.value.pointee.tensor_shape))
            }.sorted { $0.key < $1.key }
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
