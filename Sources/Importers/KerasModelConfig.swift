import Formats
/// A reference to one output tensor of one call of a layer: Keras's (layer, node index, tensor index).
struct KerasRef: Hashable {
    var layer: String
    var node: Int
    var tensor: Int
}

/// One argument of a layer call: a tensor, a list of tensors (merge layers), or a number (Keras 3
/// writes `x + 3.0` as an operation layer with a constant argument).
enum KerasArg {
    case tensor(KerasRef)
    case tensors([KerasRef])
    case number(Double)
    case other
}

/// One call of a layer (a Keras "inbound node").
struct KerasCall {
    var args: [KerasArg]
    var kwargs: [String: JSONValue]

    /// Every tensor this call reads, in order.
    var refs: [KerasRef] {
        args.flatMap { a -> [KerasRef] in
            switch a {
            case .tensor(let r): [r]
            case .tensors(let rs): rs
            default: []
            }
        }
    }
}

/// One entry of a model config's layer list.
struct KerasLayer {
    var className: String
    var name: String
    var module: String?
    var config: JSONValue
    var calls: [KerasCall]
    /// Set when the layer is itself a model (Sequential / Functional / Model).
    var nested: KerasModelConfig?

    var isInput: Bool { className == "InputLayer" }
}

/// A parsed Keras model config (Keras 2 list and dict forms, Keras 3 dict form).
struct KerasModelConfig {
    var className: String
    var name: String
    var layers: [KerasLayer]
    var isSequential: Bool
    var inputs: [KerasRef]
    var outputs: [KerasRef]

    static let modelClasses: Set<String> = ["Sequential", "Functional", "Model"]

    /// Parses `{"class_name": ..., "config": ...}`; `where` names the file for errors.
    init(_ json: JSONValue, where file: String) throws {
        func fail(_ m: String) -> FormatsError { FormatsError(.manifestInvalid, "model config: \(m)", file: file) }
        guard let cls = json["class_name"]?.string else { throw fail("missing 'class_name'") }
        guard Self.modelClasses.contains(cls) else {
            throw fail("top-level class is '\(cls)', expected Sequential, Functional or Model")
        }
        className = cls
        isSequential = cls == "Sequential"
        let config = json["config"] ?? .null
        let layerList: [JSONValue]
        if let list = config.array {
            layerList = list  // Keras ≤ 2.2.2 Sequential: a bare list
            name = "sequential"
        } else {
            guard let list = config["layers"]?.array else { throw fail("'config' has no 'layers' list") }
            layerList = list
            name = config["name"]?.string ?? cls.lowercased()
        }
        layers = try layerList.enumerated().map { i, l in try Self.layer(l, index: i, sequential: cls == "Sequential", file: file) }
        if isSequential {
            inputs = []
            outputs = []
            // Keras 2.2 style: the input shape sits on the first real layer.
            if let first = layers.first, !first.isInput {
                let shape = first.config["batch_input_shape"] ?? first.config["batch_shape"]
                    ?? (config["build_input_shape"].map { $0 })
                if let shape, !shape.isNull {
                    let input = KerasLayer(className: "InputLayer", name: "\(name)_input", module: nil,
                                           config: .object(["batch_input_shape": shape, "name": .string("\(name)_input")]), calls: [], nested: nil)
                    layers.insert(input, at: 0)
                }
            }
        } else {
            inputs = try Self.refs(config["input_layers"], file: file, what: "input_layers")
            outputs = try Self.refs(config["output_layers"], file: file, what: "output_layers")
        }
    }

    private static func layer(_ l: JSONValue, index: Int, sequential: Bool, file: String) throws -> KerasLayer {
        func fail(_ m: String) -> FormatsError { FormatsError(.manifestInvalid, "model config layer \(index): \(m)", file: file) }
        guard let cls = l["class_name"]?.string else { throw fail("missing 'class_name'") }
        let config = l["config"] ?? .object([:])
        guard let name = l["name"]?.string ?? config["name"]?.string else { throw fail("'\(cls)' has no name") }
        var calls: [KerasCall] = []
        if let nodes = l["inbound_nodes"]?.array {
            calls = try nodes.map { try call($0, layer: name, file: file) }
        }
        var nested: KerasModelConfig?
        if modelClasses.contains(cls) {
            nested = try KerasModelConfig(.object(["class_name": .string(cls), "config": config]), where: file)
            if nested?.name == nil || nested?.name == cls.lowercased() { nested?.name = name }
        }
        return KerasLayer(className: cls, name: name, module: l["module"]?.string, config: config, calls: calls, nested: nested)
    }

    private static func call(_ node: JSONValue, layer: String, file: String) throws -> KerasCall {
        if let list = node.array {
            // Keras 2: [[layer, node, tensor, kwargs], ...] — one entry per input tensor.
            var refs: [KerasRef] = []
            var kwargs: [String: JSONValue] = [:]
            for entry in list {
                guard let e = entry.array, e.count >= 3, let n = e[0].string, let ni = e[1].int, let ti = e[2].int else {
                    throw FormatsError(.manifestInvalid, "model config: layer '\(layer)' has a malformed inbound node \(entry)", file: file)
                }
                refs.append(KerasRef(layer: n, node: ni, tensor: ti))
                if e.count > 3, let kw = e[3].object { kwargs.merge(kw) { a, _ in a } }
            }
            return KerasCall(args: refs.count == 1 ? [.tensor(refs[0])] : [.tensors(refs)], kwargs: kwargs)
        }
        // Keras 3: {"args": [...], "kwargs": {...}}.
        let args = (node["args"]?.array ?? []).map { arg(_: $0) }
        return KerasCall(args: args, kwargs: node["kwargs"]?.object ?? [:])
    }

    private static func arg(_ a: JSONValue) -> KerasArg {
        if let r = tensorRef(a) { return .tensor(r) }
        if let list = a.array {
            let rs = list.compactMap(tensorRef)
            if rs.count == list.count, !rs.isEmpty { return .tensors(rs) }
        }
        if let n = a.double { return .number(n) }
        return .other
    }

    private static func tensorRef(_ a: JSONValue) -> KerasRef? {
        guard a["class_name"]?.string == "__keras_tensor__", let h = a["config"]?["keras_history"]?.array, h.count == 3,
              let n = h[0].string, let ni = h[1].int, let ti = h[2].int else { return nil }
        return KerasRef(layer: n, node: ni, tensor: ti)
    }

    private static func refs(_ v: JSONValue?, file: String, what: String) throws -> [KerasRef] {
        guard let list = v?.array else { throw FormatsError(.manifestInvalid, "model config: missing '\(what)'", file: file) }
        if list.first?.string != nil { return [try ref(.array(list), file: file, what: what)] }
        return try list.map { try ref($0, file: file, what: what) }
    }

    private static func ref(_ v: JSONValue, file: String, what: String) throws -> KerasRef {
        guard let a = v.array, a.count >= 3, let n = a[0].string, let ni = a[1].int, let ti = a[2].int else {
            throw FormatsError(.manifestInvalid, "model config: malformed entry \(v) in '\(what)'", file: file)
        }
        return KerasRef(layer: n, node: ni, tensor: ti)
    }
}
