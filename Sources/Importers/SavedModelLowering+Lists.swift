import Formats

/// TensorFlow's list values — TF2's `TensorList*` ops (what `tf.map_fn` and `tf.TensorArray` become in a
/// `tf.function`) and TF1's `TensorArrayV3` family — lowered into ordinary tensors whose first axis is the list
/// index. Skiff's IR has no list type: a list is carried through loops like any other value, read with `gather`
/// and written with a `select` on a one-hot row mask (TF's lists of tensors are dense here, so every element
/// has one shape, as `TensorListStack` requires anyway).
///
/// A list reserved with an unknown element shape (`tf.map_fn` writes one) is `Value.list` until its element
/// type is known: the first item written into it, found by lowering the loop body once with the list bound
/// as it is (`probeListTypes`), fixes it, and the list becomes zeros of that shape before the loop.
extension Lowering {
    /// A list whose element shape is not known yet.
    struct PendingList {
        /// The `TensorListReserve`/`TensorArrayV3` node (the key of `discoveredLists`).
        var node: String
        var dtype: DType
        /// The element count, a value of the builder that reserved the list.
        var count: String
        /// That builder; a list bound into a probe of a loop body belongs to another.
        var owner: ObjectIdentifier
    }

    static let listOps: Set<String> = [
        "TensorListReserve", "TensorListFromTensor", "TensorListGetItem", "TensorListSetItem", "TensorListStack", "TensorListLength",
        "TensorArrayV3", "TensorArrayWriteV3", "TensorArrayReadV3", "TensorArrayScatterV3", "TensorArrayGatherV3", "TensorArraySizeV3",
        "TensorArrayCloseV3",
    ]

    /// Lowers the list ops above; nil for any other op.
    mutating func lowerList(_ n: TFNode, _ ins: [Value], _ name: String) throws -> [Value]? {
        func x(_ i: Int) throws -> String {
            guard i < ins.count else { throw fail("\(n.op) '\(n.name)' has \(ins.count) inputs, expected more than \(i)") }
            return try ir(ins[i], name + "/in\(i)")
        }
        func elementType(_ key: String) -> DType {
            Self.dtype(n.attrs[key].flatMap { if case .type(let t) = $0 { t } else { nil } } ?? 1) ?? .float32
        }
        /// The list in input `i`: a tensor, or (when nothing has been written into a pending list) zeros of `shape`.
        func list(_ i: Int, elementShape: [Int]? = nil) throws -> String {
            if i < ins.count, case .list(let p) = ins[i] {
                guard let shape = elementShape ?? discoveredLists[p.node].flatMap({ Self.fixedShape($0.shape) }), p.owner == ObjectIdentifier(b) else {
                    throw fail("\(n.op) '\(n.name)' reads the list of '\(p.node)' before anything fixes its element shape (the list was reserved with an unknown element shape)")
                }
                return try zeros(p, shape, name + "/list")
            }
            return try x(i)
        }
        switch n.op {
        case "TensorListReserve", "TensorArrayV3":
            let dtype = elementType(n.op == "TensorArrayV3" ? "dtype" : "element_dtype")
            let countInput = n.op == "TensorArrayV3" ? 0 : 1
            let shape: [Int]?
            if n.op == "TensorArrayV3" {
                if case .shape(let s)? = n.attrs["element_shape"], let s, s.allSatisfy({ $0 >= 0 }) { shape = s } else { shape = nil }
            } else if case .const(let t)? = ins.first, !t.symbolic, t.shape.count == 1 || (t.shape.isEmpty && t.values.first ?? -1 >= 0) {
                let dims = try t.values.map { try whole($0) }
                shape = t.shape.isEmpty ? [] : (dims.allSatisfy { $0 >= 0 } ? dims : nil)
            } else {
                shape = nil
            }
            let count = try x(countInput)
            let p = PendingList(node: n.name, dtype: dtype, count: count, owner: ObjectIdentifier(b))
            let value: Value = try shape.map { .ir(try zeros(p, $0, name)) } ?? .list(p)
            // A TensorArray is a handle and a flow; Skiff's list is the flow (the handle only names it).
            return n.op == "TensorArrayV3" ? [Self.arrayHandle, value] : [value]
        case "TensorListFromTensor":
            return [.ir(try x(0))]
        case "TensorListGetItem", "TensorArrayReadV3":
            let l = try list(n.op == "TensorArrayReadV3" ? 2 : 0)
            return [.ir(try b.add(.gather, name, [l, try index(try x(1), name)], ["axis": .int(0), "batch_dims": .int(0)]))]
        case "TensorListSetItem", "TensorArrayWriteV3":
            let (li, vi) = n.op == "TensorArrayWriteV3" ? (3, 2) : (0, 2)
            let item = try x(vi)
            guard let t = b.type(of: item) else { throw fail("\(n.op) '\(n.name)' writes a value of unknown type") }
            if li < ins.count, case .list(let p) = ins[li] {
                discoveredLists[p.node] = t
                guard p.owner == ObjectIdentifier(b) else { return [.none] }  // a probe: the element type is all it wanted
            }
            let l = try list(li, elementShape: Self.fixedShape(t.shape))
            return [.ir(try setItem(l, try index(try x(1), name), item, name))]
        case "TensorListStack", "TensorArrayGatherV3":
            if n.op == "TensorArrayGatherV3", case .const(let c)? = ins.dropFirst().first, try c.values.map({ try whole($0) }) != Array(0..<c.values.count) {
                return [.ir(try b.add(.gather, name, [try list(2), try x(1)], ["axis": .int(0), "batch_dims": .int(0)]))]
            }
            // TensorArray.stack() gathers 0..<size: the whole list.
            return [.ir(try list(n.op == "TensorArrayGatherV3" ? 2 : 0))]
        case "TensorArrayScatterV3":
            // TensorArray.unstack(value) scatters value's rows to 0..<n: the list is value itself.
            if case .const(let c)? = ins.dropFirst().first, try c.values.map({ try whole($0) }) != Array(0..<c.values.count) {
                throw fail("TensorArrayScatterV3 '\(n.name)' scatters to indices \(c.values.prefix(8).map { Int($0) }); Skiff converts TensorArray.unstack (indices 0, 1, 2, …)")
            }
            return [.ir(try x(2))]
        case "TensorListLength", "TensorArraySizeV3":
            return [.ir(try length(try list(n.op == "TensorArraySizeV3" ? 1 : 0), name))]
        case "TensorArrayCloseV3":
            return []
        default:
            return nil
        }
    }

    /// What a TensorArray's handle output lowers to: nothing reads it but the ops above, which ignore it.
    static var arrayHandle: Value { .const(TFTensor(dtype: 3, shape: [], values: [0])) }

    static func fixedShape(_ dims: [Dim]) -> [Int]? {
        let v = dims.compactMap(\.fixedValue)
        return v.count == dims.count ? v : nil
    }

    /// A list of `p.count` zero elements of `shape`: a constant when the count is, else `fill`.
    mutating func zeros(_ p: PendingList, _ shape: [Int], _ name: String) throws -> String {
        let zero = p.dtype == .float32 ? b.constant(name + "/zero", shape: [], values: [0]) : b.constant(name + "/zero", dtype: p.dtype, shape: [], integers: [0])
        var parts = [try index(p.count, name + "/count")]
        for (k, d) in shape.enumerated() { parts.append(b.constant(name + "/dim\(k)", dtype: .int32, shape: [], integers: [Int64(d)])) }
        let dims = try b.add(.stack, name + "/shape", parts, ["axis": .int(0)])
        return try b.add(.fill, name, [dims, zero])
    }

    /// `v` as an int32 scalar index.
    mutating func index(_ v: String, _ name: String) throws -> String {
        guard let t = b.type(of: v) else { throw fail("'\(name)' has an index of unknown type") }
        guard t.shape.isEmpty else { throw fail("'\(name)' has an index of shape \(t.shape); a list index is a scalar") }
        return t.dtype == .int32 ? v : try b.add(.cast, name + "/index", [v], ["to": .string("int32")])
    }

    /// The number of elements of a list, an int32 scalar.
    mutating func length(_ list: String, _ name: String) throws -> String {
        if let n = b.shape(of: list).first?.fixedValue { return b.constant(name, dtype: .int32, shape: [], integers: [Int64(n)]) }
        let shape = try b.add(.shape, name + "/shape", [list], ["out_type": .string("int32")])
        return try b.add(.gather, name, [shape, b.constant(name + "/first", dtype: .int32, shape: [], integers: [0])], ["axis": .int(0), "batch_dims": .int(0)])
    }

    /// `list` with element `i` replaced by `item`: select(positions == i, item, list), the mask shaped to broadcast.
    mutating func setItem(_ list: String, _ i: String, _ item: String, _ name: String) throws -> String {
        let rank = b.shape(of: item).count
        let positions: String
        if let n = b.shape(of: list).first?.fixedValue {
            positions = b.constant(name + "/positions", dtype: .int32, shape: [n], integers: (0..<Int64(n)).map { $0 })
        } else {
            positions = try b.add(.range, name + "/positions", [b.constant(name + "/start", dtype: .int32, shape: [], integers: [0]), try length(list, name + "/length"),
                                                                 b.constant(name + "/step", dtype: .int32, shape: [], integers: [1])])
        }
        var mask = try b.add(.compare, name + "/mask", [positions, i], ["function": .string("equal")])
        for k in 0..<rank { mask = try b.add(.expandDims, name + "/mask\(k)", [mask], ["axis": .int(-1)]) }
        let row = try b.add(.expandDims, name + "/item", [item], ["axis": .int(0)])
        return try b.add(.select, name, [mask, row, list])
    }

    /// Lowers a loop body once in a throwaway lowering, with the pending lists it carries bound as they are, and
    /// returns the element types the body writes into them (`discoveredLists`). `bind` binds the body's inputs.
    mutating func probeListTypes(_ bind: (inout Lowering) throws -> Void) {
        var probe = Lowering(model: model, file: file)
        probe.resources = resources
        probe.library = library
        probe.callDepth = callDepth + 1
        probe.tracesImages = tracesImages
        try? bind(&probe)
        discoveredLists.merge(probe.discoveredLists) { a, _ in a }
    }

    /// `ins` with every pending list replaced by zeros of its discovered element type, or an error naming it.
    mutating func materialisePendingLists(_ ins: [Value], at n: TFNode) throws -> [Value] {
        try ins.enumerated().map { k, v in
            guard case .list(let p) = v else { return v }
            guard let t = discoveredLists[p.node], let shape = Self.fixedShape(t.shape) else {
                throw fail("\(n.op) '\(n.name)' carries the list of '\(p.node)', whose element shape is unknown and not fixed by the loop (it writes \(discoveredLists[p.node].map { "elements of shape \($0.shape)" } ?? "nothing") into it)")
            }
            var q = p
            q.dtype = t.dtype
            return .ir(try zeros(q, shape, "\(p.node)/reserved\(k)"))
        }
    }
}
