import Foundation
import Formats

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
