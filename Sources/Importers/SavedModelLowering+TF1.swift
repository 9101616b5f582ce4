import Formats

/// TF1 graph-mode control flow turned into format 2.0's structured form at import, as TensorFlow's own
/// functionalisation pass does: a `tf.while_loop` frame (`Enter` → `Merge` → `Switch` → `Exit`, with the back
/// edge `NextIteration` and the predicate `LoopCond`) becomes one `while` node whose condition and body are
/// functions of the library; a `tf.cond` (`Switch` into both branches, `Merge` out) becomes a `select` of the
/// two branches (both run: TF1 cond branches have no side effects Skiff keeps).
///
/// A loop is found from any of its `Exit` nodes. Its loop variables are the frame's `Enter`s that are not
/// constant; the constant `Enter`s are loop invariants (a constant outside stays a constant inside; any other
/// value is carried through the loop unchanged). The condition function gets the `Merge` values, the body the
/// `Switch`es' true outputs, and both are lowered by a nested `Lowering` whose memo holds those nodes already,
/// so their walks stop at the loop's edges. A nested loop is met as an `Exit` inside a body and lowered the same way.
extension Lowering {
    static let tf1Enter: Set<String> = ["Enter", "RefEnter"]
    static let tf1Exit: Set<String> = ["Exit", "RefExit"]
    static let tf1Switch: Set<String> = ["Switch", "RefSwitch"]
    static let tf1Merge: Set<String> = ["Merge", "RefMerge"]

    static func nodeName(_ ref: String) -> String { String(ref.split(separator: ":", maxSplits: 1)[0]) }

    /// One loop variable of a TF1 frame.
    struct TF1LoopVariable {
        var enter: TFNode
        var merge: TFNode
        var `switch`: TFNode
        var next: TFNode
        var exits: [TFNode]
    }

    /// Lowers the loop `exit` leaves and records every `Exit` of it in the memo; returns `exit`'s value.
    mutating func lowerTF1Loop(exit: TFNode, scope: String, nodes: [String: TFNode], args: [String: Value], inputs: [String: Value], function: TFFunction?) throws -> [Value] {
        func node(_ ref: String, _ why: String) throws -> TFNode {
            guard let n = nodes[Self.nodeName(ref)] else { throw fail("TF1 loop around Exit '\(exit.name)': \(why) '\(ref)' names no node") }
            return n
        }
        func malformed(_ what: String) -> FormatsError {
            FormatsError(.graphInvalid, "TF1 loop around Exit '\(exit.name)' is malformed: \(what) (a tf.while_loop frame is Enter → Merge → Switch(LoopCond) → Exit, with NextIteration back into Merge)", file: file)
        }
        // Exit ← Switch ← Merge ← Enter(frame_name).
        guard let s0 = exit.inputs.first else { throw malformed("the Exit has no input") }
        let sw = try node(s0, "its Switch")
        guard Self.tf1Switch.contains(sw.op), sw.inputs.count >= 2 else { throw malformed("'\(sw.name)' before the Exit is \(sw.op), not Switch") }
        let mg = try node(sw.inputs[0], "the Switch's Merge")
        guard Self.tf1Merge.contains(mg.op), mg.inputs.count == 2 else { throw malformed("'\(mg.name)' before the Switch is \(mg.op) with \(mg.inputs.count) inputs, not a Merge of two") }
        let enterOfExit = try mg.inputs.map { try node($0, "the Merge's input") }.first { Self.tf1Enter.contains($0.op) }
        guard let frame = enterOfExit?.attrs["frame_name"]?.string else { throw malformed("the Merge '\(mg.name)' has no Enter input with a frame_name") }
        let loopCondRef = sw.inputs[1]
        let loopCond = try node(loopCondRef, "the Switch's predicate")
        guard loopCond.op == "LoopCond", let predRef = loopCond.inputs.first else { throw malformed("the Switch '\(sw.name)' predicate is \(loopCond.op), not LoopCond") }

        // Who reads each node (data inputs only), over this scope's nodes.
        var readers: [String: [TFNode]] = [:]
        for n in nodes.values {
            for r in n.inputs where !r.hasPrefix("^") { readers[Self.nodeName(r), default: []].append(n) }
        }
        let enters = nodes.values.filter { Self.tf1Enter.contains($0.op) && $0.attrs["frame_name"]?.string == frame }.sorted { $0.name < $1.name }
        var variables: [TF1LoopVariable] = []
        var invariants: [TFNode] = []
        for e in enters {
            if e.attrs["is_constant"]?.bool == true { invariants.append(e); continue }
            guard let m = readers[e.name]?.first(where: { Self.tf1Merge.contains($0.op) }), m.inputs.count == 2 else { throw malformed("Enter '\(e.name)' feeds no Merge") }
            guard let s = readers[m.name]?.first(where: { Self.tf1Switch.contains($0.op) }) else { throw malformed("Merge '\(m.name)' feeds no Switch") }
            guard Self.nodeName(s.inputs.count > 1 ? s.inputs[1] : "") == loopCond.name else { throw malformed("Switch '\(s.name)' is not controlled by LoopCond '\(loopCond.name)'") }
            guard let nx = try m.inputs.map({ try node($0, "the Merge's input") }).first(where: { $0.op.hasSuffix("NextIteration") }), !nx.inputs.isEmpty else {
                throw malformed("Merge '\(m.name)' has no NextIteration input")
            }
            let exits = (readers[s.name] ?? []).filter { Self.tf1Exit.contains($0.op) }
            variables.append(TF1LoopVariable(enter: e, merge: m, switch: s, next: nx, exits: exits))
        }
        guard !variables.isEmpty else { throw malformed("frame '\(frame)' has no loop variables") }

        // Values entering the loop, evaluated outside it.
        let loopName = String((scope + "/" + Self.nodeName(mg.name)).split(separator: "/").suffix(3).joined(separator: "/"))
        var entering: [Value] = []
        for v in variables {
            entering.append(try value(ref: v.enter.inputs[0], scope: scope, nodes: nodes, args: args, inputs: inputs, function: function))
        }
        var invariantSeeds: [String: Value] = [:]
        var carriedInvariants: [TFNode] = []
        for e in invariants {
            guard let r = e.inputs.first(where: { !$0.hasPrefix("^") }) else { throw malformed("Enter '\(e.name)' has no input") }
            let v = try value(ref: r, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function)
            if case .const = v { invariantSeeds[e.name] = v; continue }
            entering.append(v)
            carriedInvariants.append(e)
        }
        let loopCount = variables.count
        if entering.contains(where: { if case .list = $0 { true } else { false } }) {
            // Lists (TensorArray flows) reserved with an unknown element shape: the body's first write fixes it.
            let types = entering.map { v -> ValueInfo? in if case .ir(let name) = v { b.type(of: name) } else { nil } }
            probeListTypes { probe in
                func bound(_ k: Int) -> Value {
                    if case .list = entering[k] { return entering[k] }
                    if let t = types[k] { return .ir(probe.b.input("arg\(k)", t.dtype, t.shape)) }
                    return entering[k]
                }
                for (k, v) in variables.enumerated() { probe.memo["/" + v.switch.name] = [.none, bound(k)] }
                for (k, e) in carriedInvariants.enumerated() { probe.memo["/" + e.name] = [bound(loopCount + k)] }
                for (name, v) in invariantSeeds { probe.memo["/" + name] = [v] }
                for v in variables { _ = try? probe.value(ref: v.next.inputs[0], scope: "", nodes: nodes, args: [:], inputs: [:], function: nil) }
            }
            entering = try materialisePendingLists(entering, at: exit)
        }
        let carried = try entering.enumerated().map { k, v in try ir(v, k < loopCount ? variables[k].enter.name : carriedInvariants[k - loopCount].name) }

        /// Lowers the condition or the body for carried values of `types`.
        func part(_ lowering: inout Lowering, body: Bool, types: [ValueInfo]) throws -> ModelGraph {
            try lowering.subgraph(body ? "\(frame)/body" : "\(frame)/cond", types: types) { sub, argNames in
                for (k, v) in variables.enumerated() {
                    if body { sub.memo["/" + v.switch.name] = [.none, .ir(argNames[k])] }
                    else { sub.memo["/" + v.merge.name] = [.ir(argNames[k]), .none] }
                }
                for (k, e) in carriedInvariants.enumerated() { sub.memo["/" + e.name] = [.ir(argNames[loopCount + k])] }
                for (name, v) in invariantSeeds { sub.memo["/" + name] = [v] }
                if !body { return [try sub.value(ref: predRef, scope: "", nodes: nodes, args: [:], inputs: [:], function: nil)] }
                let next = try variables.map { try sub.value(ref: $0.next.inputs[0], scope: "", nodes: nodes, args: [:], inputs: [:], function: nil) }
                return next + argNames[loopCount...].map { Value.ir($0) }
            }
        }
        var types = carried.map { b.type(of: $0)! }
        var bodyGraph = try part(&self, body: true, types: types)
        for _ in 0..<2 {
            let general = Self.generalised(types, bodyGraph.outputs, name: loopName)
            if general.map(\.shape) == types.map(\.shape) { break }
            types = general
            bodyGraph = try part(&self, body: true, types: types)
        }
        let condGraph = try part(&self, body: false, types: types)
        let c = register(frame + "/cond", condGraph), bd = register(frame + "/body", bodyGraph)
        let outs = try b.add(.while, loopName, carried, ["cond": .string(c), "body": .string(bd), "max_iterations": .int(GraphLimits.maxIterations)],
                             outputs: carried.count, library: library)
        for (k, v) in variables.enumerated() {
            for x in v.exits { memo[scope + "/" + x.name] = [.ir(outs[k])] }
        }
        guard let m = memo[scope + "/" + exit.name] else { throw malformed("Exit '\(exit.name)' does not leave any loop variable of frame '\(frame)'") }
        return m
    }

    /// The loop-carried types after one pass of a body: dimensions (or ranks) the body changes become run-time.
    static func generalised(_ types: [ValueInfo], _ outputs: [ValueInfo], name: String) -> [ValueInfo] {
        zip(types, outputs).enumerated().map { i, pair -> ValueInfo in
            var t = pair.0
            if pair.1.shape.count != t.shape.count { t.shape = (0..<pair.1.shape.count).map { .symbol("\(name):\(i):\($0)") } }
            else { t.shape = zip(t.shape, pair.1.shape).enumerated().map { d, s in s.0 == s.1 ? s.0 : .symbol("\(name):\(i):\(d)") } }
            return t
        }
    }

    /// A TF1 `tf.cond` output: `Merge(false_value, true_value)` → `select(pred, true_value, false_value)`, the
    /// predicate being that of the nearest `Switch` feeding the true side (not counting `Switch`es of conds
    /// nested inside it, which their own `Merge` closes).
    mutating func lowerTF1Merge(_ n: TFNode, _ ins: [Value], _ name: String, nodes: [String: TFNode], scope: String, args: [String: Value], inputs: [String: Value], function: TFFunction?) throws -> [Value] {
        guard ins.count == 2 else {
            throw fail("Merge '\(n.name)' has \(ins.count) inputs; Skiff converts the two-input Merge of a TF1 tf.cond")
        }
        var stack: [(String, Int)] = [(Self.nodeName(n.inputs[1]), 0)]
        var seen: Set<String> = []
        var predRef: String?
        while let (name, level) = stack.popLast(), predRef == nil {
            guard seen.insert("\(level):\(name)").inserted, let d = nodes[name], seen.count < 1 << 20 else { continue }
            var next = level
            if Self.tf1Switch.contains(d.op) {
                if level == 0, d.inputs.count > 1 { predRef = d.inputs[1]; break }
                next = level - 1
            } else if Self.tf1Merge.contains(d.op) {
                next = level + 1
            } else if Self.tf1Enter.contains(d.op) || Self.tf1Exit.contains(d.op) {
                continue
            }
            for r in d.inputs { stack.append((Self.nodeName(r.hasPrefix("^") ? String(r.dropFirst()) : r), next)) }
        }
        guard let predRef else { throw fail("Merge '\(n.name)' is not the end of a TF1 tf.cond (no Switch feeds its second input)") }
        let pred = try ir(try value(ref: predRef, scope: scope, nodes: nodes, args: args, inputs: inputs, function: function), name + "/pred")
        let t = try ir(ins[1], name + "/true"), f = try ir(ins[0], name + "/false")
        return [.ir(try b.add(.select, name, [pred, t, f])), .none]
    }
}
