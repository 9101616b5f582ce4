/// Graph rewrites applied between reading and writing (`skiff convert --no-optimize` skips them).
/// Each pass keeps the graph's inputs and outputs (names and shapes) unchanged.
public enum Optimizer {
    public struct Report: Sendable, Codable {
        public var removedIdentities = 0
        public var foldedScaleShift = 0
        public var fusedActivations = 0
        public var fusedPads = 0
    }

    @discardableResult
    public static func optimize(_ model: inout LoweredModel) -> Report {
        var report = Report()
        report.removedIdentities = removeIdentities(&model)
        report.foldedScaleShift = foldScaleShift(&model)
        report.fusedActivations = fuseActivations(&model)
        report.fusedPads = fusePads(&model)
        model.pruneConstants()
        return report
    }

    // MARK: - Helpers

    static func consumers(_ g: ModelGraph) -> [String: Int] {
        var n: [String: Int] = [:]
        for node in g.nodes { for i in node.inputs where !i.isEmpty { n[i, default: 0] += 1 } }
        for o in g.outputs { n[o.name, default: 0] += 1 }
        return n
    }

    /// Removes node `i`, making its consumers read `replacement` instead.
    static func bypass(_ g: inout ModelGraph, node i: Int, with replacement: String) {
        let old = g.nodes[i].outputs[0].name
        g.nodes.remove(at: i)
        for j in g.nodes.indices { g.nodes[j].inputs = g.nodes[j].inputs.map { $0 == old ? replacement : $0 } }
    }

    /// Merges `consumer` (index c) into `producer` (index p): the producer takes over the consumer's
    /// output value, so names seen by later nodes and graph outputs do not change.
    static func absorb(_ g: inout ModelGraph, producer p: Int, consumer c: Int) {
        g.nodes[p].outputs = g.nodes[c].outputs
        g.nodes.remove(at: c)
    }

    // MARK: - Passes

    /// A zero `pad` of only the spatial axes feeding one VALID/EXPLICIT conv2d or depthwise conv (Keras's
    /// ZeroPadding2D before a stride-2 convolution) becomes that convolution's explicit padding: one pass
    /// over the activations instead of two, and no padded copy.
    static func fusePads(_ m: inout LoweredModel) -> Int {
        var fused = 0
        let outputs = Set(m.graph.outputs.map(\.name))
        var i = 0
        while i < m.graph.nodes.count {
            let pad = m.graph.nodes[i]
            guard pad.op == .pad, (pad.string("mode") ?? "constant") == "constant", (pad.float("value") ?? 0) == 0,
                  let p = pad.ints("pads"), p.count == 8, p[0] == 0, p[1] == 0, p[6] == 0, p[7] == 0,
                  !outputs.contains(pad.outputs[0].name), consumers(m.graph)[pad.outputs[0].name] == 1,
                  let c = m.graph.nodes.firstIndex(where: { $0.inputs.first == pad.outputs[0].name }),
                  [.conv2d, .depthwiseConv2d].contains(m.graph.nodes[c].op) else { i += 1; continue }
            let conv = m.graph.nodes[c]
            let padding = conv.string("padding") ?? "valid"
            guard padding == "valid" || padding == "explicit" else { i += 1; continue }
            let old = padding == "explicit" ? (conv.ints("pads") ?? [0, 0, 0, 0]) : [0, 0, 0, 0]
            guard old.count == 4 else { i += 1; continue }
            m.graph.nodes[c].attributes["padding"] = .string("explicit")
            m.graph.nodes[c].attributes["pads"] = .ints([old[0] + p[2], old[1] + p[3], old[2] + p[4], old[3] + p[5]])
            m.graph.nodes[c].inputs[0] = pad.inputs[0]
            m.graph.nodes.remove(at: i)
            fused += 1
        }
        return fused
    }

    /// `unary identity` nodes whose output is not a graph output.
    static func removeIdentities(_ m: inout LoweredModel) -> Int {
        var removed = 0
        let outputs = Set(m.graph.outputs.map(\.name))
        var i = 0
        while i < m.graph.nodes.count {
            let n = m.graph.nodes[i]
            if n.op == .unary, n.string("function") == "identity", !outputs.contains(n.outputs[0].name) {
                bypass(&m.graph, node: i, with: n.inputs[0])
                removed += 1
            } else { i += 1 }
        }
        return removed
    }

    /// A per-channel `mul`/`add` by a constant right after a conv/depthwise/dense (BatchNormalization,
    /// Normalization) is folded into that op's weights and bias.
    static func foldScaleShift(_ m: inout LoweredModel) -> Int {
        var folded = 0
        var changed = true
        while changed {
            changed = false
            let uses = consumers(m.graph)
            let constants = Set(m.graph.constants.map(\.name))
            for (c, node) in m.graph.nodes.enumerated() where node.op == .binary {
                guard let f = node.string("function"), f == "mul" || f == "add", node.attributes["activation"] == nil else { continue }
                guard let p = m.graph.nodes.firstIndex(where: { $0.outputs[0].name == node.inputs[0] }) else { continue }
                let producer = m.graph.nodes[p]
                guard [.conv2d, .depthwiseConv2d, .dense].contains(producer.op), producer.attributes["activation"] == nil,
                      uses[producer.outputs[0].name] == 1, constants.contains(node.inputs[1]),
                      let k = m.weights[producer.inputs[1]], let v = m.weights[node.inputs[1]], k.shape.count >= 2 else { continue }
                // Output channels are the filter's last axis (depthwise: channels × multiplier, the last two).
                let cout = producer.op == .depthwiseConv2d ? k.shape[k.shape.count - 2] * k.shape[k.shape.count - 1] : k.shape[k.shape.count - 1]
                guard v.values.count == 1 || (v.shape == [cout]) else { continue }
                let per = { (oc: Int) -> Float in v.values.count == 1 ? v.values[0] : v.values[oc] }
                var bias = producer.inputs.count > 2 && !producer.inputs[2].isEmpty ? m.weights[producer.inputs[2]]!.values : [Float](repeating: 0, count: cout)
                var kernel = k
                if f == "mul" {
                    for i in kernel.values.indices { kernel.values[i] *= per(i % cout) }
                    for oc in 0..<cout { bias[oc] *= per(oc) }
                } else {
                    for oc in 0..<cout { bias[oc] += per(oc) }
                }
                // Fresh constants: the originals may be shared with another call of the same layer.
                var updated = producer
                let kName = fresh(&m, producer.inputs[1] + (f == "mul" ? "/folded" : ""), kernel, replacing: f == "mul")
                let bName = fresh(&m, producer.name + "/bias_folded", ConstantData(shape: [cout], values: bias), replacing: true)
                updated.inputs = [updated.inputs[0], f == "mul" ? kName : producer.inputs[1], bName]
                m.graph.nodes[p] = updated
                absorb(&m.graph, producer: p, consumer: c)
                folded += 1
                changed = true
                break
            }
        }
        return folded
    }

    private static func fresh(_ m: inout LoweredModel, _ base: String, _ data: ConstantData, replacing: Bool) -> String {
        guard replacing else { return base }
        var name = base
        var i = 1
        let used = Set(m.graph.constants.map(\.name) + m.graph.inputs.map(\.name) + m.graph.nodes.flatMap { $0.outputs.map(\.name) })
        while used.contains(name) { name = "\(base)_\(i)"; i += 1 }
        m.graph.constants.append(ValueInfo(name, .float32, data.shape.map(Dim.fixed)))
        m.weights[name] = data
        return name
    }

    /// An activation (unary, or clamp to [0, 6] / [0, ∞)) that is the only consumer of a conv, dense or
    /// binary node becomes that node's fused activation.
    static func fuseActivations(_ m: inout LoweredModel) -> Int {
        var fused = 0
        var changed = true
        while changed {
            changed = false
            let uses = consumers(m.graph)
            for (c, node) in m.graph.nodes.enumerated() {
                var activation: [String: Attribute]
                switch node.op {
                case .unary:
                    guard let f = node.string("function") else { continue }
                    activation = ["activation": .string(f)]
                    if let a = node.float("alpha") { activation["activation_alpha"] = .float(a) }
                    if let b = node.float("beta") { activation["activation_beta"] = .float(b) }
                case .clamp:
                    let lo = node.float("min") ?? -.infinity, hi = node.float("max") ?? .infinity
                    if lo == 0, hi == 6 { activation = ["activation": .string("relu6")] }
                    else if lo == 0, hi == .infinity { activation = ["activation": .string("relu")] }
                    else { continue }
                default: continue
                }
                guard let p = m.graph.nodes.firstIndex(where: { $0.outputs[0].name == node.inputs[0] }) else { continue }
                let producer = m.graph.nodes[p]
                guard [.conv2d, .depthwiseConv2d, .conv2dTranspose, .dense, .binary].contains(producer.op),
                      producer.attributes["activation"] == nil, uses[producer.outputs[0].name] == 1 else { continue }
                m.graph.nodes[p].attributes.merge(activation) { a, _ in a }
                absorb(&m.graph, producer: p, consumer: c)
                fused += 1
                changed = true
                break
            }
        }
        return fused
    }
}
