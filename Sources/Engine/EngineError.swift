/// The one error type of the `Engine` module: a bad model at load time or bad inputs at run time.
public struct EngineError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
