/// How weights are stored: computation stays float32; only storage narrows.
public enum WeightPrecision: String, CaseIterable, Sendable, Codable {
    case fp32, fp16, int8
}

/// The storage dtype chosen for each constant, and why.
public struct PrecisionPlan: Sendable {
    public var precision: WeightPrecision
    /// Constant → storage dtype (float32, float16 or int8q).
    public var storage: [String: DType]
    /// int8 constants → number of quantisation channels (i mod C).
    public var channels: [String: Int]
    /// int8 candidates stored wider by measurement (`keep(_:as:)`): the kernels that moved real answers.
    public var kept: [String] = []

    /// Kernels of conv/depthwise/transposed-conv/dense nodes with at least `minElements` values are
    /// quantised per output channel for int8; every other constant (biases, BN-derived vectors, small
    /// tensors) stays float32. fp16 narrows every constant of rank ≥ 2; rank-0/1 ones stay float32.
    public static func make(_ model: LoweredModel, _ precision: WeightPrecision, minElements: Int = 256) -> PrecisionPlan {
        var storage: [String: DType] = [:], channels: [String: Int] = [:]
        for c in model.graph.constants { storage[c.name] = .float32 }
        switch precision {
        case .fp32: break
        case .fp16:
            for c in model.graph.constants where c.shape.count >= 2 && c.dtype == .float32 { storage[c.name] = .float16 }
        case .int8:
            for node in model.graph.nodes where [.conv2d, .depthwiseConv2d, .conv2dTranspose, .dense].contains(node.op) {
                guard node.inputs.count > 1, let w = model.weights[node.inputs[1]], w.values.count >= minElements else { continue }
                let s = w.shape
                let c = node.op == .depthwiseConv2d ? s[s.count - 2] * s[s.count - 1] : s[s.count - 1]
                storage[node.inputs[1]] = .int8q
                channels[node.inputs[1]] = c
            }
        }
        return PrecisionPlan(precision: precision, storage: storage, channels: channels)
    }

    /// The weights as a reader will see them after storage (float16 rounding, int8 quantisation).
    public func storedWeights(_ model: LoweredModel) -> [String: ConstantData] {
        var out = model.weights
        for (name, dtype) in storage {
            guard var w = out[name] else { continue }
            switch dtype {
            case .float16: w.values = w.values.map { Float(Float16($0)) }
            case .int8q:
                let (q, scales) = Int8Quantization.quantize(w.values, channels: channels[name] ?? 1)
                w.values = Int8Quantization.dequantize(q, scales: scales)
            default: break
            }
            out[name] = w
        }
        return out
    }

    /// Stores `names` as `dtype` instead (float16 for int8 kernels measured to change answers).
    public mutating func keep(_ names: [String], as dtype: DType) {
        for n in names where storage[n] != dtype {
            storage[n] = dtype
            channels[n] = nil
            kept.append(n)
        }
    }

    /// The narrowed constants in graph order (the candidates `keep(_:as:)` chooses from).
    public func narrowed(in model: LoweredModel) -> [String] {
        model.graph.nodes.flatMap(\.inputs).filter { (storage[$0] ?? .float32) != .float32 }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }
}

extension LoweredModel {
    /// Adds every constant to `writer` in the storage the plan chose.
    public func addTensors(to writer: inout SkiffWriter, plan: PrecisionPlan) throws {
        for c in graph.allGraphs.flatMap(\.constants) {
            guard let w = weights[c.name] else { throw FormatsError(.missingTensor, "constant '\(c.name)' has no weights") }
            if w.dtype != .float32 {
                try writer.addTensor(c.name, dtype: w.dtype, shape: w.shape, bytes: w.integerBytes)
                continue
            }
            switch plan.storage[c.name] ?? .float32 {
            case .int8q: try writer.addQuantizedTensor(c.name, floats: w.values, shape: w.shape, channels: plan.channels[c.name] ?? 1)
            case .float16: try writer.addTensor(c.name, floats: w.values, shape: w.shape, storage: .float16)
            default: try writer.addTensor(c.name, floats: w.values, shape: w.shape)
            }
        }
    }
}
