import Foundation
@testable import Engine
import Formats
import Importers
import Testing
import TestSupport

@Suite struct ImageDecodingTests {
    static let images = ImageFixtures.index.images

    func pipeline(channels: Int = 3, idct: String = "fast", resize: String = "bilinear", crop: ImageInput.Crop? = nil,
                  preset: String = "none") -> ImagePipeline {
        let size = ImageFixtures.index.size
        return ImagePipeline(ImageInput(input: "x", height: size[0], width: size[1], channels: channels, resize: resize, crop: crop,
                                        normalization: .preset(preset, channels: channels)!, idct: idct))
    }

    func check(_ image: ImageFixtures.Entry, _ golden: ImageFixtures.Decoded, channels: Int, idct: String) throws {
        if let message = golden.error {
            // TensorFlow refuses this decode; so does Skiff.
            #expect(throws: EngineError.self, "TensorFlow said: \(message)") { try pipeline(channels: channels, idct: idct).decode(image.bytes) }
            return
        }
        let d = try pipeline(channels: channels, idct: idct).decode(image.bytes)
        #expect([d.height, d.width, d.channels] == golden.shape)
        #expect(Digest.sha256Hex(d.pixels) == golden.sha256, "\(image) \(channels) channels, \(idct) IDCT: pixels differ from tf.io.decode_jpeg")
    }

    @Test(arguments: images) func rgbPixelsEqualTensorFlowsExactly(_ image: ImageFixtures.Entry) throws {
        try check(image, image.rgb_fast, channels: 3, idct: "fast")
    }

    @Test(arguments: images) func grayPixelsEqualTensorFlowsExactly(_ image: ImageFixtures.Entry) throws {
        try check(image, image.gray_fast, channels: 1, idct: "fast")
    }

    @Test(arguments: images) func accurateIDCTPixelsEqualTensorFlowsExactly(_ image: ImageFixtures.Entry) throws {
        try check(image, image.rgb_accurate, channels: 3, idct: "accurate")
    }

    /// tf.image.resize of the decoded pixels, within 1e-4.
    @Test(arguments: images) func resizedTensorsMatchTensorFlow(_ image: ImageFixtures.Entry) throws {
        for method in ["bilinear", "nearest", "area", "antialias"] {
            let x = try pipeline(resize: method).tensor(image.bytes)
            let expected = try image.npy("resize_\(method)")
            #expect(x.shape == [1] + expected.shape, "\(image) \(method)")
            expectClose(x.values, expected.floats, atol: 1e-4, rtol: 0)
        }
        let cc = try pipeline(crop: .init(centralFraction: 0.875)).tensor(image.bytes)
        expectClose(cc.values, try image.npy("central_crop").floats, atol: 1e-4, rtol: 0)
    }

    @Test func inputForms() throws {
        let image = try #require(Self.images.first { $0.file == "tiny_7x5.jpg" })
        let raw = image.bytes
        let standard = Data(raw).base64EncodedString()
        let webSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let expected = try ImageBytes.unwrap(raw, maxBytes: 1 << 20)
        for form in [standard, webSafe, "data:image/jpeg;base64," + standard, "  " + standard + "\n",
                     String(standard.enumerated().map { $0.offset % 60 == 59 ? "\($0.element)\n" : "\($0.element)" }.joined())] {
            #expect(try ImageBytes.unwrap(Array(form.utf8), maxBytes: 1 << 20) == expected)
        }
    }

    @Test func badInputsAreClearErrors() throws {
        let image = try #require(Self.images.first { $0.file == "astronaut_q90_420.jpg" })
        let p = pipeline()
        func message(_ bytes: [UInt8], _ pipeline: ImagePipeline? = nil) -> String {
            do { _ = try (pipeline ?? p).tensor(bytes); return "no error" } catch { return "\(error)" }
        }
        #expect(message([]) == "the image is empty")
        #expect(message(Array("not an image at all!".utf8)).contains("not a JPEG or PNG image, nor base64 of one (it is text starting \"not an image at all!\")"))
        #expect(message(Array("aGVsbG8gd29ybGQ=".utf8)).contains("not a JPEG or PNG image, nor base64 of one (it decodes to bytes starting 68 65 6c 6c)"))
        #expect(message([0x89, 0x50, 0x4E, 0x47, 0, 0]).contains("PNG"))
        #expect(message(Array("abcde".utf8)).contains("not a JPEG or PNG image, nor base64 of one"))
        #expect(message(Array(image.bytes.prefix(image.bytes.count / 2))).contains("corrupt or truncated JPEG"))
        var corrupt = image.bytes
        for i in 200..<260 { corrupt[i] = 0xFF }
        #expect(message(corrupt).contains("JPEG"))
        // Limits: checked before decoding.
        var small = p.spec
        small.maxPixels = 1000
        #expect(message(image.bytes, ImagePipeline(small)).contains("more than the limit of 1000"))
        small = p.spec
        small.maxEncodedBytes = 100
        #expect(message(image.bytes, ImagePipeline(small)).contains("more than the limit of 100"))
    }

    /// Signatures built in code (not read from a validated file) still cannot overflow or allocate past
    /// max_pixels: the sizes are checked at run time too.
    @Test func hostileSignatureNumbersAreErrorsAtRunTime() throws {
        let image = try #require(Self.images.first { $0.file == "astronaut_q90_420.jpg" })
        #expect(try ImageBytes.unwrap(image.bytes, maxBytes: Int.max) == image.bytes)
        for side in [50_000, 3_037_000_500, 1 << 62] {
            let p = pipeline(crop: .init(shorterSide: side))
            do {
                _ = try p.tensor(image.bytes)
                Issue.record("shorter side \(side) was accepted")
            } catch {
                #expect("\(error)".contains("shorter side \(side)") && "\(error)".contains("max_pixels"), "\(error)")
            }
        }
        // A shorter side within max_pixels still works.
        #expect(try pipeline(crop: .init(shorterSide: 64)).tensor(image.bytes).shape == [1] + ImageFixtures.index.size + [3])
    }

    @Test func decompressionBombIsRefusedFromTheHeader() throws {
        // A real JPEG whose header is edited to claim 60000×60000 pixels: refused before allocating.
        let image = try #require(Self.images.first { $0.file == "tiny_7x5.jpg" })
        var b = image.bytes
        let sof = try #require((0..<(b.count - 8)).first { b[$0] == 0xFF && (b[$0 + 1] == 0xC0 || b[$0 + 1] == 0xC2) })
        b[sof + 5] = 0xEA; b[sof + 6] = 0x60; b[sof + 7] = 0xEA; b[sof + 8] = 0x60
        do {
            _ = try pipeline().tensor(b)
            Issue.record("a 3.6-gigapixel header was accepted")
        } catch {
            #expect("\(error)".contains("60000×60000"))
        }
    }

    @Test func exifOrientationIsOffByDefaultAndAppliedOnRequest() throws {
        let image = try #require(Self.images.first { $0.file == "coffee_exif6.jpg" })
        let plain = try pipeline().decode(image.bytes)
        #expect(plain.width == 120 && plain.height == 80)  // as stored, like TensorFlow
        var spec = pipeline().spec
        spec.exifOrientation = true
        let upright = try ImagePipeline(spec).decode(image.bytes)
        #expect(upright.width == 80 && upright.height == 120)
        // Orientation 6 rotates clockwise: the stored bottom-left pixel lands top-left.
        #expect(Array(upright.pixels[0..<3]) == Array(plain.pixels[(79 * 120 * 3)..<(79 * 120 * 3 + 3)]))
    }

    @Test func normalizationPresets() throws {
        let image = try #require(Self.images.first { $0.file == "tiny_7x5.jpg" })
        let raw = try pipeline(preset: "none").tensor(image.bytes).values
        let tf = try pipeline(preset: "tf").tensor(image.bytes).values
        expectClose(tf, raw.map { $0 / 127.5 - 1 }, atol: 1e-6, rtol: 0)
        let caffe = try pipeline(preset: "caffe").tensor(image.bytes).values
        // BGR order, ImageNet means subtracted.
        #expect(abs(caffe[0] - (raw[2] - 103.939)) < 1e-4 && abs(caffe[2] - (raw[0] - 123.68)) < 1e-4)
        let torch = try pipeline(preset: "torch").tensor(image.bytes).values
        #expect(abs(torch[1] - (raw[1] / 255 - 0.456) / 0.224) < 1e-5)
    }
}
