import Formats

/// Runs a model's image signature: encoded bytes → decoded pixels → crop → resize → normalise → NHWC
/// float32, with TensorFlow's semantics at each step (see `ImageInput`).
public struct ImagePipeline: Sendable {
    public let spec: ImageInput

    public init(_ spec: ImageInput) { self.spec = spec }

    /// Decodes one image (raw JPEG or PNG, base64 of one, or a data URI) to its pixels.
    public func decode(_ data: [UInt8]) throws -> DecodedImage {
        let encoded = try ImageBytes.unwrap(data, maxBytes: spec.maxEncodedBytes)
        if PNG.isPNG(encoded) { return try PNG.decode(encoded, channels: spec.channels, maxPixels: spec.maxPixels) }
        let jpeg = encoded
        var image = try TurboJPEG.decode(jpeg, channels: spec.channels, accurateDCT: spec.idct == "accurate", maxPixels: spec.maxPixels)
        if spec.exifOrientation { image = ExifOrientation.apply(ExifOrientation.read(jpeg), to: image) }
        return image
    }

    /// The model input for one image: [1, height, width, channels].
    public func tensor(_ data: [UInt8]) throws -> Tensor {
        try tensor(decoded: try decode(data))
    }

    /// Crop, resize and normalise already-decoded pixels.
    public func tensor(decoded image: DecodedImage) throws -> Tensor {
        var x = Tensor(shape: [1, image.height, image.width, image.channels], values: image.pixels.map(Float.init))
        if let f = spec.crop?.centralFraction, f < 1 {
            // tf.image.central_crop
            let top = Int((Double(image.height) - Double(image.height) * f) / 2), left = Int((Double(image.width) - Double(image.width) * f) / 2)
            x = Self.crop(x, top: top, left: left, height: image.height - 2 * top, width: image.width - 2 * left)
        }
        if let side = spec.crop?.shorterSide {
            // Shorter side to `side` (long side truncated), then a centre crop to the model size.
            let (h, w) = (image.height, image.width)
            let (nh, nw) = try Self.shorterSide(height: h, width: w, side: side, maxPixels: spec.maxPixels)
            x = try Self.resize(x, height: nh, width: nw, method: spec.resize)
            let top = Int((Double(nh - spec.height) / 2).rounded()), left = Int((Double(nw - spec.width) / 2).rounded())
            x = Self.crop(x, top: top, left: left, height: spec.height, width: spec.width)
        }
        x = try Self.resize(x, height: spec.height, width: spec.width, method: spec.resize)
        return normalize(x)
    }

    /// The size of a `height`×`width` image resized so its shorter side is `side` (long side truncated).
    /// - Throws: `EngineError` when that is more than `maxPixels` pixels (never overflowing on the way).
    static func shorterSide(height h: Int, width w: Int, side: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        let (long, short) = (max(h, w), min(h, w))
        let (scaled, o1) = long.multipliedReportingOverflow(by: side)
        let other = o1 ? Int.max : scaled / max(short, 1)
        let (pixels, o2) = other.multipliedReportingOverflow(by: side)
        guard !o1, !o2, pixels <= maxPixels else {
            throw EngineError("the \(w)×\(h) image resized to shorter side \(side) would have more than \(maxPixels) pixels, the limit set by the model's image signature (max_pixels)")
        }
        return h <= w ? (side, other) : (other, side)
    }

    /// Several images as one batch [N, height, width, channels].
    public func batch(_ images: [[UInt8]]) throws -> Tensor {
        let tensors = try images.map { try tensor($0) }
        return Tensor(shape: [tensors.count, spec.height, spec.width, spec.channels], values: tensors.flatMap(\.values))
    }

    static func crop(_ x: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        let (w, c) = (x.shape[2], x.shape[3])
        var v = [Float]()
        v.reserveCapacity(height * width * c)
        for y in top..<(top + height) { v += x.values[((y * w + left) * c)..<((y * w + left + width) * c)] }
        return Tensor(shape: [1, height, width, c], values: v)
    }

    /// `tf.image.resize` (half-pixel centres, no antialias) through the engine's resize kernel.
    static func resize(_ x: Tensor, height: Int, width: Int, method: String) throws -> Tensor {
        let outShape = [x.shape[0], height, width, x.shape[3]]
        var out = [Float](repeating: 0, count: outShape.reduce(1, *))
        x.values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                ResizeKernels.resize(View(shape: x.shape, data: src), .init(method: method, halfPixelCenters: true, alignCorners: false), dst, outShape)
            }
        }
        return Tensor(shape: outShape, values: out)
    }

    func normalize(_ x: Tensor) -> Tensor {
        let n = spec.normalization
        let c = spec.channels
        let scale = n.scale.map(Float.init), offset = n.offset.map(Float.init)
        var out = x.values
        for i in stride(from: 0, to: out.count, by: c) {
            for ch in 0..<c {
                let src = n.bgr ? c - 1 - ch : ch
                out[i + ch] = x.values[i + src] * scale[ch] + offset[ch]
            }
        }
        return Tensor(shape: x.shape, values: out)
    }
}
