import Foundation
import Formats
import Importers
import Testing
import TestSupport
@testable import convert

/// One `skiff …` command line found in a fenced shell block of the documentation.
struct DocCommand: CustomStringConvertible {
    var file: String
    var line: Int
    /// The whole shell line (continuations joined), as a user would paste it.
    var shell: String
    /// The arguments after `skiff` in the segment that runs it (quotes removed, substitutions as placeholders).
    var arguments: [String]

    var description: String { "\(file):\(line): \(shell)" }
}

/// Finds every `skiff …` command in ```sh (or bash/shell/console) blocks of README.md and docs/*.md.
enum DocCommands {
    static var files: [String] {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot + "/docs")) ?? []
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    static func all() throws -> [DocCommand] {
        try files.flatMap { try commands(in: String(contentsOfFile: packageRoot + "/" + $0, encoding: .utf8), file: $0) }
    }

    static func commands(in text: String, file: String) -> [DocCommand] {
        var found: [DocCommand] = []
        var inShell = false, inOther = false
        var pending = "", pendingLine = 0
        for (i, raw) in text.components(separatedBy: "\n").enumerated() {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                if inShell || inOther { inShell = false; inOther = false; pending = ""; continue }
                let info = trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces).lowercased()
                if ["sh", "bash", "shell", "console"].contains(info) { inShell = true } else { inOther = true }
                continue
            }
            guard inShell else { continue }
            var line = trimmed
            if line.hasPrefix("$ ") { line.removeFirst(2) }  // console prompts
            if pending.isEmpty { pendingLine = i + 1 }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            let shell = pending + line
            pending = ""
            for segment in segments(of: stripComment(shell)) {
                var words = self.words(segment)
                while let first = words.first, first.contains("="), !first.hasPrefix("-") { words.removeFirst() }  // VAR=value skiff …
                guard words.first == "skiff" else { continue }
                found.append(DocCommand(file: file, line: pendingLine, shell: shell, arguments: Array(words.dropFirst())))
            }
        }
        return found
    }

    /// The line without a trailing `# comment` (a `#` starting a word, outside quotes and `$(…)`).
    static func stripComment(_ line: String) -> String {
        var out = "", quote: Character?, depth = 0, previous: Character = " "
        for c in line {
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "(" && previous == "$" {
                depth += 1
            } else if c == ")" && depth > 0 {
                depth -= 1
            } else if c == "#" && depth == 0 && (previous == " " || previous == "\t") {
                break
            }
            out.append(c)
            previous = c
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    /// Splits a line into the commands of a pipeline or list (`|`, `||`, `&&`, `;`), outside quotes and `$(…)`.
    static func segments(of line: String) -> [String] {
        var parts: [String] = [], current = "", quote: Character?, depth = 0, previous: Character = " "
        for c in line {
            if let q = quote {
                if c == q { quote = nil }
                current.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                current.append(c)
            } else if c == "(" && previous == "$" {
                depth += 1
                current.append(c)
            } else if c == ")" && depth > 0 {
                depth -= 1
                current.append(c)
            } else if depth == 0 && (c == "|" || c == ";" || (c == "&" && previous == "&")) {
                if c == "&" { current.removeLast() }
                parts.append(current)
                current = ""
            } else {
                current.append(c)
            }
            previous = c
        }
        parts.append(current)
        return parts.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Shell words: quotes removed, `$(…)` and `$VAR` replaced by a placeholder, redirections dropped.
    static func words(_ segment: String) -> [String] {
        var words: [String] = [], current = "", inWord = false, quote: Character?
        var chars = Array(segment)[...]
        func substitution() {
            // `$(…)` (nested parentheses counted) or `$NAME` / `${NAME}`: a value the shell would supply.
            if chars.first == "(" {
                var depth = 0
                while let c = chars.popFirst() {
                    if c == "(" { depth += 1 } else if c == ")" { depth -= 1; if depth == 0 { break } }
                }
            } else if chars.first == "{" {
                while let c = chars.popFirst(), c != "}" {}
            } else {
                while let c = chars.first, c.isLetter || c.isNumber || c == "_" { chars.removeFirst() }
            }
            current += "SUBSTITUTED"
        }
        while let c = chars.popFirst() {
            if let q = quote {
                if c == q { quote = nil } else if c == "$" && q == "\"" { substitution() } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == "$" {
                substitution()
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        // Redirections: `> file`, `2> file`, `>file`, `< file`.
        var kept: [String] = []
        var skipNext = false
        for w in words {
            if skipNext { skipNext = false; continue }
            let stripped = w.drop { $0.isNumber }
            if stripped.hasPrefix(">") || stripped.hasPrefix("<") {
                if stripped.allSatisfy({ $0 == ">" || $0 == "<" || $0 == "&" }) { skipNext = true }
                continue
            }
            kept.append(w)
        }
        return kept
    }
}

/// Every `skiff …` line in README.md and docs/*.md must parse with the real command tree, and a representative
/// set of them must run as written on copies of the fixtures under the documented file names.
@Suite struct DocCommandTests {
    @Test func extractionHandlesCommentsPipesAndSubstitutions() {
        let text = """
        ```sh
        skiff convert h5 model.h5 --json         # writes model.skiff beside it
        base64 photo.jpg | skiff predict classifier.skiff -
        skiff predict m.skiff --b64 "$(base64 -w0 photo.jpg)" --json
        cd out && SKIFF_RECIPES=/r skiff recipes
        skiff recipes squeezenet --labels > labels.txt
        skiff package s3 --model m.skiff \\
                         --layout-only -o ./models
        ```
        ```yaml
        run: skiff not-in-a-shell-block
        ```
        """
        let found = DocCommands.commands(in: text, file: "x.md")
        #expect(found.map(\.arguments) == [
            ["convert", "h5", "model.h5", "--json"],
            ["predict", "classifier.skiff", "-"],
            ["predict", "m.skiff", "--b64", "SUBSTITUTED", "--json"],
            ["recipes"],
            ["recipes", "squeezenet", "--labels"],
            ["package", "s3", "--model", "m.skiff", "--layout-only", "-o", "./models"],
        ])
        #expect(found.map(\.line) == [2, 3, 4, 5, 6, 7])
    }

    @Test func everyDocumentedCommandParses() throws {
        let commands = try DocCommands.all()
        #expect(commands.count >= 30, "found only \(commands.count) skiff command lines; is the extraction broken?")
        var failures: [String] = []
        for c in commands {
            do { _ = try Skiff.command(for: c.arguments) } catch {
                failures.append("\(c)\n    → \(Skiff.message(for: error).split(separator: "\n").first ?? "")")
            }
        }
        #expect(failures.isEmpty, "documented command lines that do not parse:\n\(failures.joined(separator: "\n"))")
    }

    // MARK: running them

    /// The commands run as written; each in a fresh copy of `Stage` so none depends on another's output.
    static let runnable: Set<String> = ["convert h5", "convert keras", "convert savedmodel", "predict", "inspect", "run", "verify", "recipes", "version"]

    /// Lines that parse but are not run, by a fragment, and why (anything else runnable that fails is a failure).
    static let notRun: [String: String] = [:]

    /// A folder holding the files the documentation names, made from fixtures.
    struct Stage {
        var dir: String

        init() throws {
            dir = try temporaryDirectory("skiff-docs")
            let fm = FileManager.default
            func copy(_ fixture: String, _ name: String) throws { try fm.copyItem(atPath: packageRoot + "/fixtures/" + fixture, toPath: dir + "/" + name) }
            try copy("keras/k3_sequential.h5", "model.h5")
            try copy("keras/k3_sequential.keras", "model.keras")
            try copy("keras/k3_sequential.in0.npy", "x.npy")
            try copy("keras/k3_sequential.out0.npy", "y.npy")
            try copy("keras/k3_multi_io.h5", "two_inputs.h5")  // inputs named a and b
            try copy("keras/k3_multi_io.in0.npy", "a.npy")
            try copy("keras/k3_multi_io.in1.npy", "b.npy")
            try copy("keras/tfk_weights.weights.h5", "model.weights.h5")
            try copy("keras/tfk_weights.json", "model.json")
            try copy("recipes/breed_classifier.h5", "classifier.h5")
            try copy("images/astronaut_q90_420.jpg", "photo.jpg")
            try copy("images/chelsea_q50_422.jpg", "other.jpg")
            try copy("png/chelsea_rgb.png", "other.png")
            try FileManager.default.createDirectory(atPath: dir + "/photos", withIntermediateDirectories: true)
            try copy("images/coffee_q75_444.jpg", "photos/coffee.jpg")
            try copy("png/camera_gray.png", "photos/camera.png")
            try copy("savedmodel/tf_module", "exported_model")
            try copy("savedmodel/tf_module", "saved_model_dir")
            try copy("recipes/squeezenet_mini.h5", "squeezenet.h5")
            // labels.txt: the breed classifier's class names, one a line (from its CSV's last column).
            let csv = try String(contentsOfFile: packageRoot + "/fixtures/recipes/breed_labels.csv", encoding: .utf8)
            let names = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",").last.map(String.init) ?? "" }
            try (names.joined(separator: "\n") + "\n").write(toFile: dir + "/labels.txt", atomically: true, encoding: .utf8)

            // model.skiff and classifier.skiff as the documentation makes them.
            for args in [["convert", "h5", "model.h5"], ["convert", "h5", "classifier.h5", "--image", "auto", "--preprocess", "tf", "--labels", "labels.txt"],
                         ["convert", "h5", "two_inputs.h5"]] {
                let r = try SkiffRun(arguments: args, directory: dir)
                guard r.status == 0 else { throw FormatsError(.io, "setting up the documentation folder: skiff \(args.joined(separator: " ")): \(r.stderr)") }
            }
            // labels.csv for model.keras (a header, then one class a row), and batch.npy for classifier.skiff.
            let model = try SkiffFile(path: dir + "/model.skiff")
            let classes = model.manifest.graph.outputs[0].shape.last?.fixedValue ?? 0
            try ("id,name\n" + (0..<classes).map { "\($0),class_\($0)\n" }.joined()).write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
            let input = try SkiffFile(path: dir + "/classifier.skiff").manifest.graph.inputs[0]
            let shape = input.shape.map { $0.fixedValue ?? 1 }
            var rng = SeededRandom(seed: 3)
            try NpyArray(floats: (0..<shape.reduce(1, *)).map { _ in rng.uniform() }, shape: shape).write(to: dir + "/batch.npy")
        }

        /// A fresh copy to run one command in.
        func copy() throws -> String {
            let target = try temporaryDirectory("skiff-docs-run")
            try FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: dir, toPath: target)
            return target
        }
    }

    @Test func representativeDocumentedCommandsRunAsWritten() throws {
        let stage = try Stage()
        let bin = URL(fileURLWithPath: SkiffRun.binary).deletingLastPathComponent().path
        var ran = Set<String>(), failures: [String] = [], count = 0
        for c in try DocCommands.all() {
            let kind = c.arguments.first == "convert" ? c.arguments.prefix(2).joined(separator: " ") : (c.arguments.first ?? "")
            guard Self.runnable.contains(kind) else { continue }
            if Self.notRun.keys.contains(where: { c.shell.contains($0) }) { continue }
            let dir = try stage.copy()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", "set -o pipefail; " + c.shell]
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            p.environment = ["PATH": bin + ":/usr/bin:/bin", "HOME": dir]
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationStatus == 0 { ran.insert(kind); count += 1 } else { failures.append("\(c)\n    → exit \(p.terminationStatus): \(stderr)") }
        }
        #expect(failures.isEmpty, "documented commands that fail when run as written:\n\(failures.joined(separator: "\n"))")
        #expect(ran.isSuperset(of: ["convert h5", "predict", "inspect", "run", "verify", "recipes"]), "ran only: \(ran.sorted())")
        #expect(count >= 20, "only \(count) documented commands ran")
    }
}
