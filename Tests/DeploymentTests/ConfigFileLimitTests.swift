import Foundation
import Formats
import Packager
import Serving
import HTTPServer
import Testing
import TestSupport

/// Recipes and `models.config` are read with a size cap enforced while reading (they are untrusted input:
/// docs/SECURITY.md §1); `/dev/zero` once made both read until memory ran out.
@Suite struct ConfigFileLimitTests {
    @Test func endlessAndOversizedConfigFilesAreRefused() throws {
        expectFormatsError(.sizeMismatch, "/dev/zero", "recipe", "\(Recipe.maxBytes)") { try Recipe.load(path: "/dev/zero") }
        expectFormatsError(.sizeMismatch, "/dev/zero", "model config", "\(ModelConfig.maxConfigBytes)") { try ModelConfig.parse(path: "/dev/zero") }
        let dir = try temporaryDirectory()
        let big = dir + "/models.config"
        try Data(("# " + String(repeating: "x", count: ModelConfig.maxConfigBytes) + "\n").utf8).write(to: URL(fileURLWithPath: big))
        expectFormatsError(.sizeMismatch, "models.config", "more than \(ModelConfig.maxConfigBytes) bytes") { try ModelConfig.parse(path: big) }
        // Files under the caps still read.
        let small = dir + "/small.config"
        try Data(#"model_config_list { config { name: "a" base_path: "/m/a" } }"#.utf8).write(to: URL(fileURLWithPath: small))
        #expect(try ModelConfig.parse(path: small).map(\.name) == ["a"])
    }
}
