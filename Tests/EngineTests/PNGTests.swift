import Foundation
@testable import Engine
import Formats
import Importers
import Testing
import TestSupport

/// PNG decoding against tf.io.decode_png (fixtures/make_png_fixtures.py): every colour type, exact pixels.
@Suite struct PNGDecodingTests {
    static let images = PNGFixtures.index.images

    func pipeline(channels: Int) -> ImagePipeline {
        ImagePipeline(ImageInput(input: "x", height: 40, width: 48, channels: channels, normalization: .preset("none", channels: channels)!))
    }

    @Test func everyColourTypeIsCovered() {
        #expect(Self.images.count >= 8)
    }

    @Test(arguments: images) func rgbPixelsEqualTensorFlowsExactly(_ image: PNGFixtures.Entry) throws {
        let d = try pipeline(channels: 3).decode(image.bytes)
        #expect([d.height, d.width, d.channels] == image.rgb.shape)
        #expect(Digest.sha256Hex(d.pixels) == image.rgb.sha256, "\(image): pixels differ from tf.io.decode_png(channels=3)")
    }

    @Test(arguments: images) func grayPixelsEqualTensorFlowsExactly(_ image: PNGFixtures.Entry) throws {
        let d = try pipeline(channels: 1).decode(image.bytes)
        #expect([d.height, d.width, d.channels] == image.gray.shape)
        #expect(Digest.sha256Hex(d.pixels) == image.gray.sha256, "\(image): pixels differ from tf.io.decode_png(channels=1)")
    }

    @Test func base64PNGIsAccepted() throws {
        let image = try #require(Self.images.first)
        let b64 = Array(Data(image.bytes).base64EncodedString().utf8)
        #expect(try pipeline(channels: 3).decode(b64) == pipeline(channels: 3).decode(image.bytes))
    }

    @Test func truncatedAndOversizedPNGsAreRefused() throws {
        let image = try #require(Self.images.first { $0.file == "chelsea_rgb.png" })
        let bytes = image.bytes
        #expect(throws: EngineError.self) { try pipeline(channels: 3).decode(Array(bytes.prefix(bytes.count / 2))) }
        var header = bytes
        header[33] ^= 0xFF  // the IHDR chunk's CRC
        #expect(throws: EngineError.self) { try pipeline(channels: 3).decode(header) }
        let small = ImagePipeline(ImageInput(input: "x", height: 4, width: 4, channels: 3, normalization: .preset("none", channels: 3)!, maxPixels: 100))
        let e = try #require(throws: EngineError.self) { try small.decode(bytes) }
        #expect(e.message.contains("90×60 = 5400 pixels, more than the limit of 100"))
    }

    @Test func textIsNotAnImage() throws {
        let e = try #require(throws: EngineError.self) { try pipeline(channels: 3).decode(Array("hello, this is a note\n".utf8)) }
        #expect(e.message.hasPrefix("not a JPEG or PNG image, nor base64 of one (it is text starting \"hello, this is a note"), "\(e.message)")
    }
}
