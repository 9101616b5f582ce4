import Engine
import Foundation
import Formats
import Importers

/// One entry of fixtures/keras/index.json (written by fixtures/make_fixtures.py).
public struct KerasFixture: Decodable, Sendable, CustomStringConvertible {
    public var name: String
    public var files: [String]
    public var kind: String
    public var inputs: Int
    public var outputs: Int
    public var note: String

    public var description: String { "\(name) (\(kind))" }

    public static let directory = packageRoot + "/fixtures/keras"

    public static var all: [KerasFixture] {
        guard let data = FileManager.default.contents(atPath: directory + "/index.json"),
              let list = try? JSONDecoder().decode([KerasFixture].self, from: data) else { return [] }
        return list
    }

    public static var models: [KerasFixture] { all.filter { $0.kind != "error" } }
    public static var errors: [KerasFixture] { all.filter { $0.kind == "error" } }

    public func path(_ i: Int = 0) -> String { Self.directory + "/" + files[i] }

    /// Reads the fixture with the matching Skiff reader.
    public func read() throws -> KerasReader.Result {
        switch kind {
        case "keras": try KerasReader.readArchive(path: path())
        case "weights+config": try KerasReader.readH5(weights: path(0), config: path(1))
        default: try KerasReader.readH5(path: path())
        }
    }

    public func input(_ i: Int) throws -> Tensor { Tensor(try NpyArray(path: "\(Self.directory)/\(name).in\(i).npy")) }
    public func expected(_ i: Int) throws -> Tensor { Tensor(try NpyArray(path: "\(Self.directory)/\(name).out\(i).npy")) }
}
