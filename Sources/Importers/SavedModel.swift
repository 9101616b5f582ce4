import CSavedModelProto
import Foundation
import Formats

/// What a TensorFlow SavedModel directory holds, read with protobuf-c from `saved_model.pb` and from the
/// TensorBundle checkpoint: tag sets, signatures, an op histogram over the graph and every library function,
/// and the checkpoint's variables. The converter builds on the same parse.
public struct SavedModelInfo: Sendable, Encodable {
    public struct TensorSpec: Sendable, Encodable, Equatable {
        public var key: String
        public var tensor: String
        public var dtype: String
        /// Dims outermost first, -1 unknown; nil for an unknown rank.
        public var shape: [Int]?

        /// The shape as `skiff inspect` shows it (text and JSON): an unknown outermost dim is the batch, `N`
        /// (as in a .skiff file), any other unknown dim `?`.
        public var displayShape: [Dim]? {
            shape.map { $0.enumerated().map { i, d in d >= 0 ? .fixed(d) : (i == 0 ? .batch : .symbol("?")) } }
        }

        enum CodingKeys: String, CodingKey { case key, tensor, dtype, shape }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(key, forKey: .key)
            try c.encode(tensor, forKey: .tensor)
            try c.encode(dtype, forKey: .dtype)
            try c.encodeIfPresent(displayShape, forKey: .shape)
        }
    }
    public struct SignatureInfo: Sendable, Encodable {
        public var name: String
        public var method: String
        public var inputs: [TensorSpec]
        public var outputs: [TensorSpec]
    }
    public struct Variable: Sendable, Encodable {
        public var key: String
        public var dtype: String
        public var shape: [Int]
        public var bytes: Int
        /// Why the converter skips the entry (string and variant entries are not weights), nil for weights.
        public var skipped: String?
    }

    public var path: String
    public var tags: [[String]]
    public var tensorflowVersion: String?
    public var signatures: [SignatureInfo]
    public var ops: [String: Int]
    public var functions: Int
    public var variables: [Variable]

    enum CodingKeys: String, CodingKey {
        case path, tags, tensorflowVersion = "tensorflow_version", signatures, ops, functions, variables
    }

    static let maxProtoBytes = 1 << 31 - 1  // protobuf's own 2 GiB message limit

    /// `directory` itself when it holds `saved_model.pb`, else (a TF Serving model folder) its highest
    /// integer version subfolder, or `version` when given.
    public static func resolve(_ directory: String, version: Int? = nil) throws -> String {
        let fm = FileManager.default
        if version == nil, fm.fileExists(atPath: directory + "/saved_model.pb") { return directory }
        let versions = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).compactMap { Int($0) }.filter { fm.fileExists(atPath: "\(directory)/\($0)/saved_model.pb") }.sorted()
        if let version {
            guard versions.contains(version) else { throw FormatsError(.io, "has no version \(version) with a saved_model.pb (found: \(versions.map(String.init).joined(separator: ", ")))", file: directory) }
            return "\(directory)/\(version)"
        }
        guard let latest = versions.last else { throw FormatsError(.io, "is not a SavedModel: no saved_model.pb here or in a numbered version folder", file: directory) }
        return "\(directory)/\(latest)"
    }

    static func skipReason(_ dtype: Int) -> String? {
        switch dtype {
        case 7: "a string entry (vocabulary, file path or other text), not a weight"
        case 20, 21: "a resource or variant entry (a handle or container), not a weight"
        default: nil
        }
    }

    public static func dtypeName(_ n: Int) -> String {
        let names = [1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 9: "int64", 10: "bool",
                     14: "bfloat16", 17: "uint16", 19: "float16", 20: "resource", 21: "variant", 22: "uint32", 23: "uint64"]
        return names[n] ?? "dtype(\(n))"
    }

    public init(directory: String, version: Int? = nil) throws {
        let dir = try Self.resolve(directory, version: version)
        let pb = dir + "/saved_model.pb"
        guard let data = FileManager.default.contents(atPath: pb) else { throw FormatsError(.io, "cannot read saved_model.pb", file: pb) }
        guard data.count <= Self.maxProtoBytes else { throw FormatsError(.absurdShape, "is \(data.count) bytes, over protobuf's 2 GiB limit", file: pb) }
        guard let model = Array(data).withUnsafeBufferPointer({ skiff__tf__saved_model__unpack(nil, $0.count, $0.baseAddress) }) else {
            throw FormatsError(.protobufInvalid, "is not a SavedModel protobuf (protobuf-c could not decode it)", file: pb)
        }
        defer { skiff__tf__saved_model__free_unpacked(model, nil) }
        let str = ProtoC.string, shape = ProtoC.shape
        var tags: [[String]] = []
        var signatures: [SignatureInfo] = []
        var ops: [String: Int] = [:]
        var functions = 0
        var tfVersion: String?
        for m in 0..<Int(model.pointee.n_meta_graphs) {
            guard let meta = model.pointee.meta_graphs[m] else { continue }
            if let info = meta.pointee.meta_info_def {
                tags.append((0..<Int(info.pointee.n_tags)).map { str(info.pointee.tags[$0]) })
                tfVersion = tfVersion ?? str(info.pointee.tensorflow_version)
            }
            for s in 0..<Int(meta.pointee.n_signature_def) {
                guard let entry = meta.pointee.signature_def[s], let def = entry.pointee.value else { continue }
                func specs(_ n: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Skiff__Tf__SignatureDef__InputsEntry>?>?) -> [TensorSpec] {
                    (0..<n).compactMap { i in
                        guard let e = list?[i], let t = e.pointee.value else { return nil }
                        let tensor = t.pointee.encoding_case == SKIFF__TF__TENSOR_INFO__ENCODING_NAME ? str(t.pointee.name) : "(composite)"
                        return TensorSpec(key: str(e.pointee.key), tensor: tensor, dtype: Self.dtypeName(Int(t.pointee.dtype.rawValue)), shape: shape(t.pointee.tensor_shape))
                    }.sorted { $0.key < $1.key }
                }
                let outputs = (0..<Int(def.pointee.n_outputs)).compactMap { i -> TensorSpec? in
                    guard let e = def.pointee.outputs[i], let t = e.pointee.value else { return nil }
                    let tensor = t.pointee.encoding_case == SKIFF__TF__TENSOR_INFO__ENCODING_NAME ? str(t.pointee.name) : "(composite)"
                    return TensorSpec(key: str(e.pointee.key), tensor: tensor, dtype: Self.dtypeName(Int(t.pointee.dtype.rawValue)), shape: shape(t.pointee.tensor_shape))
                }.sorted { $0.key < $1.key }
                signatures.append(SignatureInfo(name: str(entry.pointee.key), method: str(def.pointee.method_name),
                                                inputs: specs(Int(def.pointee.n_inputs), def.pointee.inputs), outputs: outputs))
            }
            if let graph = meta.pointee.graph_def {
                for n in 0..<Int(graph.pointee.n_node) { ops[str(graph.pointee.node[n]!.pointee.op), default: 0] += 1 }
                if let lib = graph.pointee.library {
                    functions += Int(lib.pointee.n_function)
                    for f in 0..<Int(lib.pointee.n_function) {
                        let fn = lib.pointee.function[f]!
                        for n in 0..<Int(fn.pointee.n_node_def) { ops[str(fn.pointee.node_def[n]!.pointee.op), default: 0] += 1 }
                    }
                }
            }
        }
        var variables: [Variable] = []
        let prefix = dir + "/variables/variables"
        if FileManager.default.fileExists(atPath: prefix + ".index") {
            let bundle = try TensorBundle(prefix: prefix)
            variables = bundle.entries.filter { $0.key != "_CHECKPOINTABLE_OBJECT_GRAPH" }
                .map { Variable(key: $0.key, dtype: Self.dtypeName($0.dtype), shape: $0.shape, bytes: $0.size, skipped: Self.skipReason($0.dtype)) }
        }
        self.path = dir
        self.tags = tags
        self.tensorflowVersion = tfVersion
        self.signatures = signatures.sorted { $0.name < $1.name }
        self.ops = ops
        self.functions = functions
        self.variables = variables
    }
}

/// Small readers for protobuf-c's C structs, shared by the SavedModel summary and the lowering.
enum ProtoC {
    static func string(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

    /// Dims outermost first (-1 unknown); nil for an unknown rank or no shape.
    static func shape(_ s: UnsafeMutablePointer<Skiff__Tf__TensorShapeProto>?) -> [Int]? {
        guard let s, s.pointee.unknown_rank == 0 else { return nil }
        return (0..<Int(s.pointee.n_dim)).map { Int(s.pointee.dim[$0]!.pointee.size) }
    }

    /// A base-128 varint at `bytes[cursor]`, not reading at or past `limit`; nil when malformed or too large.
    static func varint(_ bytes: [UInt8], _ cursor: inout Int, limit: Int) -> Int? {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard cursor < limit, cursor < bytes.count, shift < 64 else { return nil }
            let byte = bytes[cursor]
            cursor += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return result <= UInt64(Int.max) ? Int(result) : nil
    }
}
