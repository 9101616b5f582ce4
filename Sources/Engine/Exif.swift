/// EXIF orientation (tag 0x0112 in the APP1 "Exif" segment) and the pixel transforms it asks for.
enum ExifOrientation {
    /// 1…8, or 1 when the file has no (valid) tag.
    static func read(_ jpeg: [UInt8]) -> Int {
        for seg in JPEGMarkers.segments(jpeg) where seg.marker == 0xE1 {
            let p = Array(seg.payload)
            guard p.count >= 14, p.starts(with: Array("Exif".utf8) + [0, 0]) else { continue }
            let t = Array(p[6...])
            let little = t[0] == 0x49
            func u16(_ o: Int) -> Int? { o + 2 <= t.count ? (little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])) : nil }
            func u32(_ o: Int) -> Int? {
                guard o + 4 <= t.count else { return nil }
                let b = t[o..<(o + 4)].map(Int.init)
                return little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
            }
            guard let ifd = u32(4), let count = u16(ifd) else { continue }
            for e in 0..<min(count, 512) {
                let at = ifd + 2 + e * 12
                if u16(at) == 0x0112, let v = u16(at + 8), (1...8).contains(v) { return v }
            }
        }
        return 1
    }

    /// Applies orientation `o` so the image displays upright.
    static func apply(_ o: Int, to image: DecodedImage) -> DecodedImage {
        guard o != 1 else { return image }
        let (w, h, c) = (image.width, image.height, image.channels)
        let transposed = o >= 5
        let (ow, oh) = transposed ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        for y in 0..<oh { for x in 0..<ow {
            // Source pixel for output (x, y).
            let (sx, sy): (Int, Int)
            switch o {
            case 2: (sx, sy) = (w - 1 - x, y)
            case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
            case 4: (sx, sy) = (x, h - 1 - y)
            case 5: (sx, sy) = (y, x)
            case 6: (sx, sy) = (y, h - 1 - x)
            case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
            default: (sx, sy) = (w - 1 - y, x)  // 8
            }
            for ch in 0..<c { out[(y * ow + x) * c + ch] = image.pixels[(sy * w + sx) * c + ch] }
        } }
        return DecodedImage(width: ow, height: oh, channels: c, pixels: out)
    }
}
