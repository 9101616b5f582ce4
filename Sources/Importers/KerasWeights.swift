import Foundation
import Formats

/// Where the variables of Keras layers come from: a legacy HDF5 file (matched by weight name) or a
/// Keras 3 weights file (matched by variable index). Both return variables by role (`kernel`, `bias`,
/// `gamma`, `moving_mean`, …).
protocol KerasWeightSource {
    /// The variables of `layer`; `scope` names the enclosing nested models, outermost first.
    func variables(of layer: KerasLayer, scope: [KerasLayer]) throws -> [String: ConstantData]
}

/// The order in which Keras saves a layer's variables, for sources that store them by position.
enum KerasVariableOrder {
    static func roles(_ layer: KerasLayer) -> [String] {
        let c = layer.config
        let bias = c["use_bias"]?.bool ?? true
        switch layer.className {
        case "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv1DTranspose", "Dense":
            return ["kernel"] + (bias ? ["bias"] : [])
        case "DepthwiseConv2D":
            return ["kernel"] + (bias ? ["bias"] : [])
        case "SeparableConv2D":
            return ["depthwise_kernel", "pointwise_kernel"] + (bias ? ["bias"] : [])
        case "BatchNormalization":
            return ((c["scale"]?.bool ?? true) ? ["gamma"] : []) + ((c["center"]?.bool ?? true) ? ["beta"] : []) + ["moving_mean", "moving_variance"]
        case "LayerNormalization":
            return ((c["scale"]?.bool ?? true) ? ["gamma"] : []) + ((c["center"]?.bool ?? true) ? ["beta"] : [])
        case "PReLU": return ["alpha"]
        case "Normalization": return ["mean", "variance", "count"]
        default: return []
        }
    }
}

/// Legacy HDF5 (`model.save('x.h5')` in Keras 2, tf.keras and Keras 3): `model_weights/<layer>` groups
/// with a `weight_names` attribute; a nested model keeps all its inner layers' variables in its own
/// group, each named `<inner layer>/<variable>[:0]`.
struct KerasH5WeightSource: KerasWeightSource {
    let file: HDF5File
    let root: String

    init(file: HDF5File) {
        self.file = file
        root = file.isGroup("/model_weights") ? "/model_weights" : ""
    }

    func variables(of layer: KerasLayer, scope: [KerasLayer]) throws -> [String: ConstantData] {
        let owner = scope.first?.name ?? layer.name
        let group = "\(root)/\(owner)"
        guard file.isGroup(group) else {
            if KerasVariableOrder.roles(layer).isEmpty { return [:] }
            throw FormatsError(.missingTensor, "layer '\(layer.name)' (\(layer.className)) has no weights group '\(group)' in the file", file: file.path)
        }
        let names = try file.strings(group, "weight_names") ?? []
        var byRole: [String: ConstantData] = [:]
        var unnamed: [ConstantData] = []
        for full in names {
            var parts = full.split(separator: "/").map(String.init)
            if let last = parts.last, last.hasSuffix(":0") { parts[parts.count - 1] = String(last.dropLast(2)) }
            guard let role = parts.last else { continue }
            let layerName = parts.count >= 2 ? parts[parts.count - 2] : nil
            let mine = layerName == layer.name || (scope.isEmpty && (layerName == nil || !names.contains { $0.contains("\(layer.name)/") }))
            guard mine else { continue }
            let (shape, values) = try file.floats("\(group)/\(full)")
            if role.hasPrefix("param_") { unnamed.append(ConstantData(shape: shape, values: values)) } else { byRole[role] = ConstantData(shape: shape, values: values) }
        }
        if !unnamed.isEmpty {
            for (role, w) in zip(KerasVariableOrder.roles(layer), unnamed) { byRole[role] = w }
        }
        return byRole
    }
}

/// Keras 3 weights (`model.weights.h5` inside a `.keras` archive): `layers/<snake_case class>[_N]/vars/<i>`,
/// nested models under `layers/<model>/layers/…`. Groups are found by their `name` attribute when the
/// writer recorded it, otherwise by Keras's per-class counter rule.
struct KerasV3WeightSource: KerasWeightSource {
    let file: HDF5File
    let model: KerasModelConfig

    func variables(of layer: KerasLayer, scope: [KerasLayer]) throws -> [String: ConstantData] {
        var container = "/layers"
        var models = model
        for outer in scope {
            guard let g = try group(of: outer, in: container, models: models), let nested = outer.nested else {
                throw FormatsError(.missingTensor, "nested model '\(outer.name)' has no group under '\(container)'", file: file.path)
            }
            container = "\(g)/layers"
            models = nested
        }
        let roles = KerasVariableOrder.roles(layer)
        guard let g = try group(of: layer, in: container, models: models) else {
            if roles.isEmpty { return [:] }
            throw FormatsError(.missingTensor, "layer '\(layer.name)' (\(layer.className)) has no weights under '\(container)'", file: file.path)
        }
        let vars = "\(g)/vars"
        guard file.isGroup(vars) else { return [:] }
        let indices = try file.children(vars).compactMap(Int.init).sorted()
        guard indices.count == roles.count else {
            throw FormatsError(.missingTensor, "layer '\(layer.name)' (\(layer.className)) has \(indices.count) variables in '\(vars)', expected \(roles.count) (\(roles.joined(separator: ", ")))", file: file.path)
        }
        var out: [String: ConstantData] = [:]
        for (role, i) in zip(roles, indices) {
            let (shape, values) = try file.floats("\(vars)/\(i)")
            out[role] = ConstantData(shape: shape, values: values)
        }
        return out
    }

    private func group(of layer: KerasLayer, in container: String, models: KerasModelConfig) throws -> String? {
        guard file.isGroup(container) else { return nil }
        let children = try file.children(container)
        for c in children where file.hasAttribute("\(container)/\(c)/vars", "name") {
            if try file.string("\(container)/\(c)/vars", "name") == layer.name { return "\(container)/\(c)" }
        }
        // Older writers: snake_case(class name) with a per-class counter, in `model.layers` order.
        var counts: [String: Int] = [:]
        for l in models.layers {
            if models.isSequential && l.isInput { continue }
            if l.module?.hasPrefix("keras.src.ops") == true { continue }
            let base = Self.snakeCase(l.className)
            let n = counts[base, default: 0]
            counts[base] = n + 1
            if l.name == layer.name {
                let path = "\(container)/\(n == 0 ? base : "\(base)_\(n)")"
                return file.isGroup(path) ? path : nil
            }
        }
        return nil
    }

    /// Keras's class-name → path rule: Conv2D → conv2d, DepthwiseConv2D → depthwise_conv2d, PReLU → p_re_lu.
    static func snakeCase(_ name: String) -> String {
        let chars = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prev = chars[i - 1], next = i + 1 < chars.count ? chars[i + 1] : nil
                if prev.isLowercase || (next?.isLowercase ?? false) { out += "_" }
            }
            out.append(c)
        }
        return out.lowercased()
    }
}
