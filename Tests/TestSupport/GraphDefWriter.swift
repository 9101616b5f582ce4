import Foundation

/// Writes minimal `saved_model.pb` files byte by byte (protobuf wire format, no TensorFlow needed), for
/// crafting SavedModels TensorFlow would not write: cycles, very deep chains.
public struct ProtobufWriter {
    public var bytes: [UInt8] = []
    public init() {}

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    public mutating func int(_ field: Int, _ value: Int) {
        varint(UInt64(field << 3))
        varint(UInt64(bitPattern: Int64(value)))
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        varint(UInt64(field << 3 | 2))
        varint(UInt64(value.count))
        bytes += value
    }

    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    /// A fixed32 field (wire type 5), e.g. one repeated float.
    public mutating func float(_ field: Int, _ value: Float) {
        varint(UInt64(field << 3 | 5))
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var m = ProtobufWriter()
        build(&m)
        bytes(field, m.bytes)
    }
}

/// A SavedModel (tag "serve") whose graph is `nodes` and whose `serving_default` signature maps float input
/// `x` (shape `inputShape`, fed by a Placeholder named "x") to output `y` = tensor `output`.
public struct CraftedSavedModel {
    public struct Node {
        public var name: String, op: String, inputs: [String]
        /// The function a (Stateful)PartitionedCall calls (attribute `f`).
        public var function: String?
        /// A `Const` node's float value and shape (attributes `value` and `dtype`).
        public var constant: (values: [Float], shape: [Int])?
        public init(_ name: String, _ op: String, _ inputs: [String] = [], function: String? = nil, constant: (values: [Float], shape: [Int])? = nil) {
            self.name = name; self.op = op; self.inputs = inputs; self.function = function; self.constant = constant
        }
    }

    /// A FunctionDef: one input and one output argument, a body, and the tensor it returns.
    public struct Function {
        public var name: String, input: String, output: String, body: [Node], returns: String
        public init(_ name: String, input: String, output: String, body: [Node], returns: String) {
            self.name = name; self.input = input; self.output = output; self.body = body; self.returns = returns
        }
    }

    public var nodes: [Node]
    public var output: String
    public var functions: [Function] = []
    public var inputShape: [Int] = [-1, 4]

    public init(nodes: [Node], output: String, functions: [Function] = []) {
        self.nodes = nodes
        self.output = output
        self.functions = functions
    }

    public var bytes: [UInt8] {
        func tensorInfo(_ m: inout ProtobufWriter, name: String, shape: [Int]?) {
            m.string(1, name)
            m.int(2, 1)  // DT_FLOAT
            if let shape { m.message(3) { s in for d in shape { s.message(2) { $0.int(1, d) } } } }
        }
        func nodeDef(_ node: inout ProtobufWriter, _ n: Node) {
            node.string(1, n.name)
            node.string(2, n.op)
            for i in n.inputs { node.string(3, i) }
            if let c = n.constant {
                node.message(5) { entry in entry.string(1, "dtype"); entry.message(2) { $0.int(6, 1) } }
                node.message(5) { entry in
                    entry.string(1, "value")
                    entry.message(2) { v in
                        v.message(8) { t in
                            t.int(1, 1)  // DT_FLOAT
                            t.message(2) { shape in for d in c.shape { shape.message(2) { $0.int(1, d) } } }
                            for x in c.values { t.float(5, x) }
                        }
                    }
                }
            }
            if let f = n.function {
                node.message(5) { entry in entry.string(1, "f"); entry.message(2) { v in v.message(10) { $0.string(1, f) } } }
            }
        }
        var pb = ProtobufWriter()
        pb.int(1, 1)
        pb.message(2) { meta in
            meta.message(1) { $0.string(4, "serve") }
            meta.message(2) { graph in
                for n in [Node("x", "Placeholder")] + nodes { graph.message(1) { nodeDef(&$0, n) } }
                graph.message(2) { library in
                    for f in functions {
                        library.message(1) { fd in
                            fd.message(1) { sig in
                                sig.string(1, f.name)
                                sig.message(2) { $0.string(1, f.input) }
                                sig.message(3) { $0.string(1, f.output) }
                            }
                            for n in f.body { fd.message(3) { nodeDef(&$0, n) } }
                            fd.message(4) { ret in ret.string(1, f.output); ret.string(2, f.returns) }
                        }
                    }
                }
            }
            meta.message(5) { entry in
                entry.string(1, "serving_default")
                entry.message(2) { sig in
                    sig.message(1) { e in e.string(1, "x"); e.message(2) { tensorInfo(&$0, name: "x:0", shape: inputShape) } }
                    sig.message(2) { e in e.string(1, "y"); e.message(2) { tensorInfo(&$0, name: output, shape: nil) } }
                    sig.string(3, "tensorflow/serving/predict")
                }
            }
        }
        return pb.bytes
    }

    /// Writes `DIR/saved_model.pb` in a fresh directory and returns the directory.
    public func write() throws -> String {
        let dir = try temporaryDirectory("skiff-savedmodel")
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/saved_model.pb"))
        return dir
    }
}
