import Foundation
import Formats

/// What a string-input signature has done to its encoded images so far. Signatures adapted for TF Serving
/// decode, resize and normalise inside the graph — per element in a `map_fn` `While` loop, or for a single
/// image — before the model proper. The lowering follows those ops symbolically instead of building them;
/// where the images reach the model, the pipeline becomes the `.skiff` image input (`ImageInput`).
struct ImageTrace {
    enum Stage: String {
        /// The signature's string tensor; one encoded image; a TensorList of them (map_fn's unstacked input).
        case strings, string, stringList
        /// Decoded pixels of one image (a leading batch axis of 1 when `batched`).
        case pixels
        /// map_fn's output list before and after the loop body writes into it; the stacked batch.
        case reservedList, pixelList, batch
    }

    var stage: Stage
    /// The signature input key, and that input's shape (for `Shape` of the string batch).
    var input = ""
    var inputShape: [Int] = [-1]
    var base64 = false
    var channels = 0
    var idct = "fast"
    var batched = false
    var size: [Int]?
    var resize = "bilinear"
    var scale: [Double] = []
    var offset: [Double] = []
    /// The ops followed, for messages.
    var steps: [String] = []

    /// Where the model proper may start: a batch with a fixed size.
    var isComplete: Bool { stage == .batch || (stage == .pixels && batched) }

    var normalization: ImageInput.Normalization {
        for name in ImageInput.Normalization.presets {
            guard let p = ImageInput.Normalization.preset(name, channels: channels), !p.bgr else { continue }
            let close = zip(p.scale + p.offset, scale + offset).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) }
            if close { return p }
        }
        return .init(preset: "custom", bgr: false, scale: scale, offset: offset)
    }
}

extension Lowering {
    /// Follows op `n` on a traced image value: the next trace, or nil when the images are complete and `n`
    /// belongs to the model (the caller then makes them a graph input). Anything else is an error naming `n`.
    mutating func trace(_ n: TFNode, _ ins: [Value], scope: String) throws -> [Value]? {
        guard let t = ins.lazy.compactMap({ if case .image(let t) = $0 { t } else { nil } }).first else { return nil }
        func reject(_ why: String) -> FormatsError {
            let path = t.steps.isEmpty ? "" : " (after \(t.steps.suffix(4).joined(separator: " → ")))"
            return fail("the image signature input '\(t.input)' is not a decode → resize → normalise pipeline Skiff recognises: \(n.op) '\(n.name)' \(why)\(path)")
        }
        func constIn(_ i: Int) -> TFTensor? { if i < ins.count, case .const(let c) = ins[i] { c } else { nil } }
        func next(_ change: (inout ImageTrace) throws -> Void) rethrows -> [Value] {
            var u = t
            try change(&u)
            u.steps.append(n.op)
            return [.image(u)]
        }
        switch (n.op, t.stage) {
        case ("Shape", .strings):
            let dims = t.inputShape
            return [.const(TFTensor(dtype: 3, shape: [dims.count], values: dims.map(Double.init), symbolic: dims.contains(-1)))]
        case ("TensorListFromTensor", .strings):
            return next { $0.stage = .stringList }
        case ("TensorListGetItem", .stringList):
            return next { $0.stage = .string }
        case ("Squeeze", .strings), ("Reshape", .strings), ("StridedSlice", .strings):
            guard t.inputShape.count <= 1, t.inputShape.first.map({ $0 == 1 || n.op == "StridedSlice" }) ?? true else {
                throw reject("takes one image out of a batch of unknown size; use tf.map_fn over the batch")
            }
            if n.op == "StridedSlice", (n.attrs["shrink_axis_mask"]?.int ?? 0) & 1 == 0 { throw reject("keeps the batch axis") }
            return next { $0.stage = .string }
        case ("StaticRegexReplace", .string), ("StaticRegexReplace", .strings):
            // Mapping the standard base64 alphabet to the web-safe one: Skiff's image input accepts both.
            let pair = (n.attrs["pattern"]?.string ?? "", n.attrs["rewrite"]?.string ?? "")
            guard [("\\+", "-"), ("/", "_"), ("\\/", "_"), ("=", ""), ("=+$", ""), ("=*$", "")].contains(where: { $0 == pair }) else {
                throw reject("rewrites '\(pair.0)' to '\(pair.1)', which is not a base64 alphabet mapping")
            }
            return next { _ in }
        case ("DecodeBase64", .string), ("DecodeBase64", .strings):
            guard !t.base64 else { throw reject("decodes base64 twice") }
            return next { $0.base64 = true }
        case ("DecodeJpeg", .string), ("DecodeImage", .string):
            let channels = n.attrs["channels"]?.int ?? 0
            guard [0, 1, 3].contains(channels) else { throw reject("asks for \(channels) channels; the image input makes 1 or 3") }
            if n.op == "DecodeJpeg" {
                guard n.attrs["ratio"]?.int ?? 1 == 1 else { throw reject("downscales while decoding (ratio \(n.attrs["ratio"]?.int ?? 0)); Skiff decodes at full size") }
                guard n.attrs["fancy_upscaling"]?.bool ?? true else { throw reject("turns off fancy upscaling, which Skiff's decoder always uses") }
            }
            let dct = n.attrs["dct_method"]?.string ?? ""
            guard ["", "INTEGER_FAST", "INTEGER_ACCURATE"].contains(dct) else { throw reject("uses dct_method '\(dct)'") }
            return next {
                $0.stage = .pixels
                $0.channels = channels == 0 ? 3 : channels  // "as in the file": RGB JPEGs, the models' case
                $0.idct = dct == "INTEGER_ACCURATE" ? "accurate" : "fast"
                $0.scale = Array(repeating: 1, count: $0.channels)
                $0.offset = Array(repeating: 0, count: $0.channels)
            }
        case ("Cast", .pixels), ("Cast", .batch):
            guard case .type(let to)? = n.attrs["DstT"], to == 1 || to == 2 else { throw reject("casts to a type other than float") }
            return next { _ in }
        case ("ExpandDims", .pixels):
            guard !t.batched, constIn(1)?.values.first == 0 else { throw reject("adds an axis other than a leading batch axis") }
            return next { $0.batched = true }
        case ("Squeeze", .pixels):
            let dims = n.attrs["squeeze_dims"]?.ints ?? []
            guard t.batched, dims.isEmpty || dims == [0] else { throw reject("removes an axis other than the batch axis") }
            return next { $0.batched = false }
        case ("ResizeBilinear", .pixels), ("ResizeNearestNeighbor", .pixels), ("ResizeArea", .pixels),
             ("ResizeBilinear", .batch), ("ResizeNearestNeighbor", .batch), ("ResizeArea", .batch):
            guard let size = constIn(1), size.values.count == 2, size.values.allSatisfy({ $0 >= 1 }) else { throw reject("resizes to a size that is not a constant") }
            guard t.size == nil else { throw reject("resizes a second time") }
            guard n.attrs["align_corners"]?.bool != true else { throw reject("uses align_corners=True; the image input resizes as tf.image.resize does (half-pixel centres)") }
            if n.op != "ResizeArea", n.attrs["half_pixel_centers"]?.bool != true {
                throw reject("resizes without half-pixel centres (TF1's tf.image.resize_*); the image input resizes as tf.image.resize does")
            }
            return next {
                $0.size = size.values.map { Int($0) }
                $0.resize = ["ResizeBilinear": "bilinear", "ResizeNearestNeighbor": "nearest", "ResizeArea": "area"][n.op]!
            }
        case ("Mul", .pixels), ("RealDiv", .pixels), ("AddV2", .pixels), ("Add", .pixels), ("Sub", .pixels), ("BiasAdd", .pixels),
             ("Mul", .batch), ("RealDiv", .batch), ("AddV2", .batch), ("Add", .batch), ("Sub", .batch), ("BiasAdd", .batch):
            let imageFirst: Bool = if case .image = ins[0] { true } else { false }
            guard ins.count == 2, let c = constIn(imageFirst ? 1 : 0), c.values.count == 1 || c.values.count == t.channels,
                  c.shape.dropLast().allSatisfy({ $0 == 1 }) else {
                if t.isComplete { return nil }
                throw reject("combines the image with something other than a per-channel constant")
            }
            let v = c.values.count == 1 ? Array(repeating: c.values[0], count: t.channels) : c.values
            return try next { u in
                for i in 0..<t.channels {
                    switch (n.op, imageFirst) {
                    case ("Mul", _): u.scale[i] *= v[i]; u.offset[i] *= v[i]
                    case ("RealDiv", true): u.scale[i] /= v[i]; u.offset[i] /= v[i]
                    case ("Sub", true): u.offset[i] -= v[i]
                    case ("Sub", false): u.scale[i] = -u.scale[i]; u.offset[i] = v[i] - u.offset[i]
                    case ("RealDiv", false): throw reject("divides a constant by the image")
                    default: u.offset[i] += v[i]
                    }
                }
            }
        case ("TensorListSetItem", _):
            guard case .image(let list)? = ins.first, list.stage == .reservedList, ins.count == 3, case .image(let item) = ins[2],
                  item.stage == .pixels, !item.batched else {
                throw reject("does not write one decoded image into map_fn's output list")
            }
            var u = item
            u.stage = .pixelList
            u.steps.append(n.op)
            return [.image(u)]
        case ("TensorListStack", .pixelList):
            return next { $0.stage = .batch }
        case ("While", _), ("StatelessWhile", _):
            guard case .fn(let name)? = n.attrs["body"], let body = model.functions[name], body.inputArgs.count == ins.count else {
                throw reject("has no loop body with \(ins.count) arguments")
            }
            scopeCounter += 1
            let inner = "\(scope)/\(n.name)#\(scopeCounter)"
            var bound: [String: Value] = [:]
            for (a, v) in zip(body.inputArgs, ins) { bound[a] = v }
            // Only the lists are followed through the body; the loop counters are map_fn's own bookkeeping.
            return try body.outputArgs.enumerated().map { i, arg in
                guard i < ins.count, case .image = ins[i], let r = body.ret[arg] else { return .none }
                return try value(ref: r, scope: inner, nodes: body.nodes, args: bound, inputs: [:], function: body)
            }
        default:
            if t.isComplete { return nil }
            throw reject("is not one of the steps the image input can take (DecodeBase64, DecodeJpeg/DecodeImage, Cast, ResizeBilinear/NearestNeighbor/Area, arithmetic with per-channel constants, tf.map_fn)")
        }
    }

    /// The graph input the traced images become where the model proper starts.
    mutating func materialise(_ t: ImageTrace, at n: TFNode) throws -> String {
        func reject(_ why: String) -> FormatsError {
            fail("the image signature input '\(t.input)' reaches \(n.op) '\(n.name)' \(why) (steps: \(t.steps.joined(separator: " → ")))")
        }
        guard t.isComplete else { throw reject("before the images are decoded and batched") }
        guard let size = t.size else { throw reject("without being resized to a fixed size; add tf.image.resize to the signature") }
        let batch: Dim = t.stage == .batch ? .batch : .fixed(1)
        if let done = imageInput {
            guard done.height == size[0], done.width == size[1], done.channels == t.channels, done.normalization == t.normalization else {
                throw reject("through a second, different image pipeline")
            }
            return done.input
        }
        let name = b.input(t.input, .float32, [batch, .fixed(size[0]), .fixed(size[1]), .fixed(t.channels)])
        imageInput = ImageInput(input: name, height: size[0], width: size[1], channels: t.channels, resize: t.resize,
                                normalization: t.normalization, idct: t.idct)
        imageBase64 = t.base64
        return name
    }
}
