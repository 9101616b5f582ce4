import Foundation
import Formats
import Importers

/// fixtures/images/index.json (written by fixtures/make_image_fixtures.py).
public struct ImageFixtures: Decodable, Sendable {
    public struct Decoded: Decodable, Sendable {
        public var shape: [Int]?
        public var sha256: String?
        public var error: String?
    }
    public struct Entry: Decodable, Sendable, CustomStringConvertible {
        public var file: String
        public var rgb_fast: Decoded
        public var gray_fast: Decoded
        public var rgb_accurate: Decoded
        public var top5: [String]
        public var description: String { file }
        public var stem: String { String(file.dropLast(4)) }
        public var path: String { ImageFixtures.directory + "/" + file }
        public var bytes: [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
        public func npy(_ suffix: String) throws -> NpyArray { try NpyArray(path: "\(ImageFixtures.directory)/\(stem).\(suffix).npy") }
    }

    public var size: [Int]
    public var images: [Entry]

    public static let directory = packageRoot + "/fixtures/images"
    public static let index: ImageFixtures = {
        let data = FileManager.default.contents(atPath: directory + "/index.json") ?? Data("{\"size\":[0,0],\"images\":[]}".utf8)
        return (try? JSONDecoder().decode(ImageFixtures.self, from: data)) ?? ImageFixtures(size: [0, 0], images: [])
    }()
}

/// fixtures/png/index.json (written by fixtures/make_png_fixtures.py): PNGs of every colour type, with
/// tf.io.decode_png's pixels (SHA-256) and the classifier's TensorFlow probabilities.
public struct PNGFixtures: Decodable, Sendable {
    public struct Entry: Decodable, Sendable, CustomStringConvertible {
        public var file: String
        public var rgb: ImageFixtures.Decoded
        public var gray: ImageFixtures.Decoded
        public var top5: [String]
        public var description: String { file }
        public var stem: String { String(file.dropLast(4)) }
        public var path: String { PNGFixtures.directory + "/" + file }
        public var bytes: [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
        public func probs() throws -> [Float] { try NpyArray(path: "\(PNGFixtures.directory)/\(stem).probs.npy").floats }
        /// gray_classifier.h5 on decode_png(channels=1) → resize 24×24 → x/255.
        public func grayProbs() throws -> [Float] { try NpyArray(path: "\(PNGFixtures.directory)/\(stem).gray_probs.npy").floats }
    }

    public var size: [Int]
    public var images: [Entry]

    public static let directory = packageRoot + "/fixtures/png"
    public static let index: PNGFixtures = {
        let data = FileManager.default.contents(atPath: directory + "/index.json") ?? Data("{\"size\":[0,0],\"images\":[]}".utf8)
        return (try? JSONDecoder().decode(PNGFixtures.self, from: data)) ?? PNGFixtures(size: [0, 0], images: [])
    }()
}
