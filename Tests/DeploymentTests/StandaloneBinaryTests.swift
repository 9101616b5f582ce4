import Foundation
import Formats
import Importers
import Packager
import Testing
import TestSupport

/// A `skiff` binary copied out of the repository, run from an empty folder with only PATH and HOME set, must
/// work the same: built-in recipes and labels, `--recipe FILE`, `$SKIFF_RECIPES`, and `package lambda` without
/// a source tree.
@Suite struct StandaloneBinaryTests {
    /// A copy of the built binary alone in `ROOT/bin`, an empty `ROOT/work` to run in, and `ROOT/home`.
    struct Install {
        var root: String
        var binary: String { root + "/bin/skiff" }
        var work: String { root + "/work" }
        var environment: [String: String] { ["PATH": root + "/bin:/usr/bin:/bin", "HOME": root + "/home"] }

        init() throws {
            root = URL(fileURLWithPath: try temporaryDirectory("skiff-standalone")).standardizedFileURL.path
            let fm = FileManager.default
            for dir in ["bin", "work", "home"] { try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true) }
            // Both products, as 'swift build' leaves them side by side.
            for (from, name) in [(SkiffRun.binary, "skiff"), (SkiffRun.runtimeBinary, "skiff-runtime")] {
                do { try fm.linkItem(atPath: from, toPath: root + "/bin/" + name) } catch {
                    try fm.copyItem(atPath: from, toPath: root + "/bin/" + name)
                }
            }
        }

        /// Runs `skiff ARGS` found through PATH, in the empty folder, with only PATH and HOME (plus `extra`).
        func run(_ args: String..., extra: [String: String] = [:]) throws -> SkiffRun {
            try SkiffRun(arguments: args, environment: environment.merging(extra) { _, new in new }, cleanEnvironment: true,
                         directory: work, executable: binary)
        }
    }

    /// The recipes folder of this checkout, read as files: what the binary must carry.
    static func checkoutRecipes() throws -> [Recipe] {
        let dir = packageRoot + "/recipes"
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted().map { try Recipe.load(path: dir + "/" + $0) }
    }

    @Test func recipesAreBuiltIntoTheBinary() throws {
        let install = try Install()
        let shipped = try Self.checkoutRecipes()
        #expect(shipped.count >= 3)

        let list = try install.run("recipes")
        #expect(list.status == 0, "\(list.stderr)")
        for r in shipped {
            #expect(list.stdout.contains(r.name) && list.stdout.contains(r.description), "`skiff recipes` lacks \(r.name):\n\(list.stdout)")
        }
        #expect(!list.stdout.contains("No recipes found") && !list.stdout.contains("no recipes found"))

        for r in shipped {
            let one = try install.run("recipes", r.name)
            #expect(one.status == 0, "\(one.stderr)")
            #expect(one.stdout.hasPrefix("\(r.name): \(r.description)"), "\(one.stdout)")
            #expect(one.stdout.contains("built in"), "\(one.stdout)")
            // The labels travel with the binary, byte for byte.
            let labels = try install.run("recipes", r.name, "--labels")
            #expect(labels.status == 0, "\(labels.stderr)")
            #expect(labels.stdout == (try String(contentsOfFile: try #require(r.labelsPath), encoding: .utf8)), "labels of \(r.name) differ")
            let json = try install.run("recipes", r.name, "--json")
            let decoded = try JSONDecoder().decode(Recipe.self, from: Data(json.stdout.utf8))
            #expect(decoded.convert == r.convert && decoded.deploy == r.deploy && decoded.source == r.source)
        }
    }

    @Test func packageLambdaWithoutASourceTreeShipsThisBinary() throws {
        let install = try Install()
        let source = install.work + "/squeezenet.h5"
        try FileManager.default.copyItem(atPath: PackageLambdaTests.recipeFixtures + "/squeezenet_mini.h5", toPath: source)
        let r = try install.run("package", "lambda", "--model", "squeezenet", "--from", "squeezenet.h5")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("note:") && r.stderr.contains("SKIFF_SOURCE") && r.stderr.contains("--prebuilt"), "\(r.stderr)")
        let ctx = install.work + "/squeezenet-lambda"
        #expect(FileManager.default.isExecutableFile(atPath: ctx + "/runtime/skiff-runtime"))
        #expect(!FileManager.default.fileExists(atPath: ctx + "/runtime/skiff"), "the lean runtime, not the whole toolchain")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/skiff-src"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ctx + "/manifest.json"))) as? [String: Any]
        #expect((manifest?["settings"] as? [String: Any])?["mode"] as? String == "prebuilt")
        // The built-in labels made it into the model.
        let squeeze = try #require(try Self.checkoutRecipes().first { $0.name == "squeezenet" })
        let expected = try String(contentsOfFile: try #require(squeeze.labelsPath), encoding: .utf8).split(separator: "\n").map(String.init)
        let model = try SkiffFile(path: ctx + "/model.skiff")
        #expect(model.manifest.labels?.values.first == expected)

        // SKIFF_SOURCE names the checkout to build from; a wrong one is an error saying what to do.
        let fromSource = try install.run("package", "lambda", "--model", "squeezenet", "--from", "squeezenet.h5", "-o", "src-lambda",
                                         extra: ["SKIFF_SOURCE": packageRoot])
        #expect(fromSource.status == 0, "\(fromSource.stderr)")
        #expect(FileManager.default.fileExists(atPath: install.work + "/src-lambda/skiff-src/Package.swift"))
        let wrong = try install.run("package", "lambda", "--model", "squeezenet", "--from", "squeezenet.h5", "-o", "bad-lambda",
                                    extra: ["SKIFF_SOURCE": install.work])
        #expect(wrong.status == 2)
        #expect(wrong.stderr.contains("SKIFF_SOURCE") && wrong.stderr.contains("not a Skiff checkout"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: install.work + "/bad-lambda"))
        // Without a source tree, another architecture cannot be served by this binary: the error says what to do.
        #if arch(x86_64)
        let other = "arm64"
        #else
        let other = "x86_64"
        #endif
        let arch = try install.run("package", "lambda", "--model", "squeezenet", "--from", "squeezenet.h5", "-o", "arch-lambda", "--arch", other)
        #expect(arch.status == 2)
        #expect(arch.stderr.contains("SKIFF_SOURCE") && arch.stderr.contains("DEPLOY.md"), "\(arch.stderr)")
    }

    @Test func userRecipesComeFromSKIFF_RECIPESAndRecipeFiles() throws {
        let install = try Install()
        let mine = install.root + "/my-recipes"
        try FileManager.default.createDirectory(atPath: mine + "/labels", withIntermediateDirectories: true)
        try "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n".write(toFile: mine + "/labels/mine.txt", atomically: true, encoding: .utf8)
        let yaml = """
        name: my-breeds
        description: my own breed model
        source: {format: h5}
        convert: {preprocess: unit, labels: labels/mine.txt}
        deploy: {memory: 256, top_k: 2}

        """
        try yaml.write(toFile: mine + "/my-breeds.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: PackageLambdaTests.recipeFixtures + "/breed_classifier.h5", toPath: install.work + "/breeds.h5")

        // Found through $SKIFF_RECIPES, listed with the built-ins.
        let list = try install.run("recipes", extra: ["SKIFF_RECIPES": mine])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("my-breeds") && list.stdout.contains(mine + "/my-breeds.yaml") && list.stdout.contains("squeezenet"), "\(list.stdout)")
        let shown = try install.run("recipes", "my-breeds", extra: ["SKIFF_RECIPES": mine])
        #expect(shown.stdout.contains("--labels " + mine + "/labels/mine.txt"), "\(shown.stdout)")
        // A recipe in $SKIFF_RECIPES replaces a built-in one of the same name; earlier folders win.
        let override = install.root + "/override"
        try FileManager.default.createDirectory(atPath: override, withIntermediateDirectories: true)
        let builtin = try #require(try Self.checkoutRecipes().first)
        try """
        name: \(builtin.name)
        description: replaced by my own
        source: {format: h5}

        """.write(toFile: override + "/mine.yaml", atomically: true, encoding: .utf8)
        let replaced = try install.run("recipes", builtin.name, extra: ["SKIFF_RECIPES": override + ":" + mine])
        #expect(replaced.status == 0 && replaced.stdout.hasPrefix("\(builtin.name): replaced by my own") && replaced.stdout.contains(override + "/mine.yaml"),
                "\(replaced.stdout)\(replaced.stderr)")
        // A folder in $SKIFF_RECIPES that is not there is an error, not an empty list.
        let missing = try install.run("recipes", extra: ["SKIFF_RECIPES": install.root + "/nowhere"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("SKIFF_RECIPES"), "\(missing.stderr)")

        // --recipe FILE works without the search path, wherever a recipe name does.
        let file = try install.run("recipes", "--recipe", mine + "/my-breeds.yaml")
        #expect(file.status == 0 && file.stdout.hasPrefix("my-breeds: my own breed model"), "\(file.stderr)")
        let packaged = try install.run("package", "lambda", "--recipe", mine + "/my-breeds.yaml", "--from", "breeds.h5", "--json")
        #expect(packaged.status == 0, "\(packaged.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(packaged.stdout.utf8)) as? [String: Any]
        #expect((report?["settings"] as? [String: Any])?["memory"] as? Int == 256)
        let model = try SkiffFile(path: install.work + "/my-breeds-lambda/model.skiff")
        #expect(model.manifest.labels?.values.first?.first == "a")
        let layout = try install.run("package", "s3", "--recipe", mine + "/my-breeds.yaml", "--from", "breeds.h5", "--layout-only", "-o", "models")
        #expect(layout.status == 0, "\(layout.stderr)")
        #expect(FileManager.default.fileExists(atPath: install.work + "/models/my-breeds/1/model.skiff"))
        let both = try install.run("package", "lambda", "--model", "squeezenet", "--recipe", mine + "/my-breeds.yaml", "--from", "breeds.h5")
        #expect(both.status == 2)
    }

    /// `Sources/Packager/BuiltinRecipes.swift` is generated from `recipes/` by `scripts/gen-recipes.sh`; this fails
    /// when someone edits a recipe or a label file without regenerating it.
    @Test func builtInRecipesMatchTheRecipesFolder() throws {
        let fm = FileManager.default
        let dir = packageRoot + "/recipes"
        let recipeFiles = try fm.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
        var labelFiles: [String] = []
        if let walker = fm.enumerator(atPath: dir + "/labels") {
            for case let f as String in walker {
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: dir + "/labels/" + f, isDirectory: &isDirectory), !isDirectory.boolValue { labelFiles.append("labels/" + f) }
            }
        }
        let hint = "Sources/Packager/BuiltinRecipes.swift is out of date with recipes/: run scripts/gen-recipes.sh and commit the result"
        #expect(Set(BuiltinRecipes.recipes.keys) == Set(recipeFiles), "\(hint)")
        #expect(Set(BuiltinRecipes.labels.keys) == Set(labelFiles), "\(hint)")
        for (table, names) in [(BuiltinRecipes.recipes, recipeFiles), (BuiltinRecipes.labels, labelFiles)] {
            for name in names {
                let onDisk = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
                #expect(table[name] == onDisk, "\(name): \(hint)")
            }
        }
    }
}
