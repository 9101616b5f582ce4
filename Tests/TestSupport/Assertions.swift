import Formats
import Importers
import Testing

/// Compares shapes first, then values within `atol + rtol·|expected|`, reporting the worst element.
public func expectClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-6, rtol: Float = 1e-5,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("count \(actual.count) ≠ expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var worst = (index: -1, excess: Float(0))
    for i in actual.indices {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if excess > worst.excess || actual[i].isNaN != expected[i].isNaN { worst = (i, max(excess, .ulpOfOne)) }
    }
    if worst.index >= 0 {
        Issue.record("element \(worst.index): \(actual[worst.index]) vs expected \(expected[worst.index]) (atol \(atol), rtol \(rtol))",
                     sourceLocation: sourceLocation)
    }
}

/// Runs `body`, expecting a `FormatsError` with `code` whose message contains every one of `fragments`.
@discardableResult
public func expectFormatsError<T>(_ code: FormatsError.Code, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                                  _ body: () throws -> T) -> FormatsError? {
    do {
        _ = try body()
        Issue.record("expected FormatsError.\(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as FormatsError {
        #expect(e.code == code, "error was \(e.code): \(e)", sourceLocation: sourceLocation)
        for f in fragments {
            #expect(e.description.contains(f), "message \"\(e)\" should contain \"\(f)\"", sourceLocation: sourceLocation)
        }
        return e
    } catch {
        Issue.record("expected FormatsError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// The package root (tests run with it as the working directory under `swift test`).
public var packageRoot: String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}

import Foundation

/// A fresh empty directory under the system temporary directory.
public func temporaryDirectory(_ label: String = "skiff-test") throws -> String {
    let path = NSTemporaryDirectory() + "/\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
