/// Symmetric per-channel int8 quantisation (docs/FORMAT.md §6, `int8q`): channel of element i is
/// i mod C; scale[c] = max|w| / 127 over the channel (1 when it is all zero); q = round(w / scale)
/// clamped to ±127. The one definition used by the writer and by the converter's drift measurement.
public enum Int8Quantization {
    public static func quantize(_ values: [Float], channels: Int) -> (q: [Int8], scales: [Float]) {
        var scales = [Float](repeating: 0, count: channels)
        for (i, v) in values.enumerated() { scales[i % channels] = max(scales[i % channels], abs(v)) }
        scales = scales.map { $0 > 0 ? $0 / 127 : 1 }
        let q = values.enumerated().map { i, v in Int8(max(-127, min(127, (v / scales[i % channels]).rounded()))) }
        return (q, scales)
    }

    /// The values a reader gets back: q · scale[i mod C].
    public static func dequantize(_ q: [Int8], scales: [Float]) -> [Float] {
        q.enumerated().map { i, v in Float(v) * scales[i % scales.count] }
    }
}
