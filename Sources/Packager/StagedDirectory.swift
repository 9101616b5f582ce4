import Foundation
import Formats

/// A folder that appears complete or not at all: filled in a hidden staging folder beside it, then renamed into
/// place (an existing one is swapped out only after the new one is complete, and only with `replace`).
enum StagedDirectory {
    static func write<T>(to directory: String, replace: Bool, _ fill: (URL) throws -> T) throws -> T {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL
        if fm.fileExists(atPath: target.path) && !replace {
            throw FormatsError(.io, "already exists; choose another -o or pass --force to replace it", file: target.path)
        }
        let parent = target.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: staging)
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            let result = try fill(staging)
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.moveItem(at: staging, to: target)
            return result
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }
}
