import Foundation

/// Runs the built `skiff` executable as a user would.
public struct SkiffRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public static var binary: String {
        // The test bundle sits beside the products in the build directory.
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent(), dir.deletingLastPathComponent().deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("skiff").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return packageRoot + "/.build/debug/skiff"
    }

    /// The built `skiff-runtime` (the lean Lambda runtime), beside `skiff`.
    public static var runtimeBinary: String {
        URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("skiff-runtime").path
    }

    public init(_ args: String...) throws {
        try self.init(arguments: args)
    }

    /// - Parameters:
    ///   - environment: variables added to (or, with `cleanEnvironment`, replacing) the test's environment.
    ///   - directory: the working directory (default: the test's).
    ///   - executable: another skiff binary, or any program (default: the built skiff).
    public init(arguments args: [String], stdin: Data? = nil, environment: [String: String]? = nil, cleanEnvironment: Bool = false,
                directory: String? = nil, executable: String? = nil) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? Self.binary)
        p.arguments = args
        if cleanEnvironment {
            p.environment = environment ?? [:]
        } else if let environment {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Drain stderr concurrently so a chatty command cannot block on a full pipe.
        nonisolated(unsafe) var e = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { e = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        status = p.terminationStatus
        stdout = String(decoding: o, as: UTF8.self)
        stderr = String(decoding: e, as: UTF8.self)
    }
}
