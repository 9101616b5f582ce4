/// How a model turns an encoded image into its input tensor: decode, crop, resize, normalise. Stored in
/// the manifest (`images`, docs/FORMAT.md §4.4) so the glue is part of the model, identical wherever it
/// runs, and exactly TensorFlow's (`tf.io.decode_jpeg` → `tf.image.resize` → preset).
public struct ImageInput: Hashable, Sendable, Codable {
    /// Normalisation: optional RGB → BGR, then `x · scale[c] + offset[c]` per channel (0–255 input).
    public struct Normalization: Hashable, Sendable, Codable {
        public var preset: String
        public var bgr: Bool
        public var scale: [Double]
        public var offset: [Double]

        public static let presets = ["tf", "caffe", "torch", "unit", "none"]

        public init(preset: String, bgr: Bool, scale: [Double], offset: [Double]) {
            self.preset = preset
            self.bgr = bgr
            self.scale = scale
            self.offset = offset
        }

        /// `tf`: x/127.5 − 1; `caffe`: BGR minus ImageNet means; `torch`: (x/255 − mean)/std;
        /// `unit`: x/255; `none`: 0–255 floats.
        public static func preset(_ name: String, channels: Int) -> Normalization? {
            func rep(_ v: Double) -> [Double] { Array(repeating: v, count: channels) }
            switch name {
            case "tf": return .init(preset: name, bgr: false, scale: rep(1 / 127.5), offset: rep(-1))
            case "unit": return .init(preset: name, bgr: false, scale: rep(1 / 255), offset: rep(0))
            case "none": return .init(preset: name, bgr: false, scale: rep(1), offset: rep(0))
            case "caffe":
                guard channels == 3 else { return nil }
                return .init(preset: name, bgr: true, scale: rep(1), offset: [-103.939, -116.779, -123.68])
            case "torch":
                guard channels == 3 else { return nil }
                let mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225]
                return .init(preset: name, bgr: false, scale: std.map { 1 / (255 * $0) }, offset: zip(mean, std).map { -$0 / $1 })
            default: return nil
            }
        }
    }

    /// Optional cropping before the resize: `tf.image.central_crop(fraction)`, or an aspect-preserving
    /// resize of the shorter side followed by a centre crop to the model size ("resize 256, crop 224").
    public struct Crop: Hashable, Sendable, Codable {
        public var centralFraction: Double?
        public var shorterSide: Int?
        enum CodingKeys: String, CodingKey { case centralFraction = "central_fraction", shorterSide = "shorter_side" }
        public init(centralFraction: Double? = nil, shorterSide: Int? = nil) {
            self.centralFraction = centralFraction
            self.shorterSide = shorterSide
        }
    }

    /// `antialias` is bilinear with `antialias=True`.
    public static let resizeMethods = ["bilinear", "nearest", "area", "antialias"]

    /// The graph input this image feeds (NHWC).
    public var input: String
    public var height: Int
    public var width: Int
    /// 1 (grayscale) or 3 (RGB).
    public var channels: Int
    public var resize: String
    public var crop: Crop?
    public var normalization: Normalization
    /// JPEG inverse DCT: "fast" (libjpeg's IFAST, TensorFlow's default) or "accurate" (ISLOW, what PIL uses).
    public var idct: String
    /// Apply the EXIF orientation tag (TensorFlow does not).
    public var exifOrientation: Bool
    /// Largest encoded image accepted (base64 text or raw bytes).
    public var maxEncodedBytes: Int
    /// Largest decoded image accepted, in pixels (checked from the header, before decoding).
    public var maxPixels: Int

    enum CodingKeys: String, CodingKey {
        case input, height, width, channels, resize, crop, normalization, idct
        case exifOrientation = "exif_orientation", maxEncodedBytes = "max_encoded_bytes", maxPixels = "max_pixels"
    }

    /// Lambda's synchronous payload limit is 6 MB; a 50-megapixel decode is ~150 MB.
    public static let defaultMaxEncodedBytes = 6_000_000
    public static let defaultMaxPixels = 50_000_000
    /// Caps on what a file may set: a 1 GiB image, a 2^28-pixel (~800 MB RGB) decode, JPEG's 65535-pixel sides.
    public static let maxEncodedBytesLimit = 1 << 30
    public static let maxPixelsLimit = 1 << 28
    public static let maxSide = 65535

    public init(input: String, height: Int, width: Int, channels: Int, resize: String = "bilinear", crop: Crop? = nil,
                normalization: Normalization, idct: String = "fast", exifOrientation: Bool = false,
                maxEncodedBytes: Int = defaultMaxEncodedBytes, maxPixels: Int = defaultMaxPixels) {
        self.input = input
        self.height = height
        self.width = width
        self.channels = channels
        self.resize = resize
        self.crop = crop
        self.normalization = normalization
        self.idct = idct
        self.exifOrientation = exifOrientation
        self.maxEncodedBytes = maxEncodedBytes
        self.maxPixels = maxPixels
    }

    /// One line for `inspect`.
    public var summary: String {
        var s = "\(input) ← JPEG → \(width)×\(height)×\(channels)"
        if let f = crop?.centralFraction { s += ", central crop \(f)" }
        if let n = crop?.shorterSide { s += ", shorter side \(n) + centre crop" }
        s += ", \(resize) resize, normalise '\(normalization.preset)'"
        if idct != "fast" { s += ", \(idct) IDCT" }
        if exifOrientation { s += ", EXIF orientation applied" }
        return s
    }

    /// Checks the description against the graph input it feeds.
    public func validate(against graph: ModelGraph) throws {
        func fail(_ m: String, _ code: FormatsError.Code = .manifestInvalid) -> FormatsError { FormatsError(code, "image input for '\(input)': \(m)") }
        guard let v = graph.inputs.first(where: { $0.name == input }) else { throw fail("there is no graph input '\(input)'") }
        guard v.shape.count == 4 else { throw fail("the input has shape \(v.shape.map(\.description)); an image input must be NHWC (rank 4)") }
        for (i, want) in [(1, height), (2, width), (3, channels)] {
            if let d = v.shape[i].fixedValue, d != want {
                throw fail("the model's input is \(v.shape.map(\.description)), but the image signature makes \(height)×\(width)×\(channels)")
            }
        }
        guard channels == 1 || channels == 3 else { throw fail("channels must be 1 or 3, not \(channels)") }
        // Limits first: every size below is checked against them, so no product can overflow.
        guard (1...Self.maxEncodedBytesLimit).contains(maxEncodedBytes) else {
            throw fail("max_encoded_bytes is \(maxEncodedBytes), expected 1…\(Self.maxEncodedBytesLimit)", .imageLimitOutOfRange)
        }
        guard (1...Self.maxPixelsLimit).contains(maxPixels) else { throw fail("max_pixels is \(maxPixels), expected 1…\(Self.maxPixelsLimit)", .imageLimitOutOfRange) }
        guard (1...Self.maxSide).contains(height), (1...Self.maxSide).contains(width), height * width <= maxPixels else {
            throw fail("size \(width)×\(height) is out of range (sides 1…\(Self.maxSide), at most max_pixels \(maxPixels) pixels)", .imageLimitOutOfRange)
        }
        guard Self.resizeMethods.contains(resize) else { throw fail("resize '\(resize)' is not one of \(Self.resizeMethods.joined(separator: ", "))") }
        guard ["fast", "accurate"].contains(idct) else { throw fail("idct '\(idct)' must be fast or accurate") }
        guard normalization.scale.count == channels, normalization.offset.count == channels else {
            throw fail("normalisation needs \(channels) scales and offsets")
        }
        guard (normalization.scale + normalization.offset).allSatisfy(\.isFinite) else { throw fail("normalisation scales and offsets must be finite") }
        if let f = crop?.centralFraction, !(f > 0 && f <= 1) { throw fail("central crop fraction \(f) must be in (0, 1]") }
        if let n = crop?.shorterSide {
            guard n >= max(height, width) else { throw fail("shorter side \(n) is smaller than the \(width)×\(height) crop") }
            // Even a square image resized to shorter side n has n² pixels.
            guard n <= Self.maxSide, n * n <= maxPixels else {
                throw fail("shorter side \(n) is out of range: expected at most \(Self.maxSide), and its square at most max_pixels \(maxPixels)", .imageLimitOutOfRange)
            }
        }
    }
}
