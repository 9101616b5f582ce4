/// The one error type of the `Formats` module.
///
/// Every message follows one template: what failed, on what (file, tensor, node, field), the offending
/// value, and what was expected. `code` is stable so tests and scripts can match on it.
public struct FormatsError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable, CaseIterable {
        // Files in general.
        case io, fileTooSmall, badMagic, unsupportedVersion, badHeader, headerChecksum
        case truncated, trailingBytes, bodyChecksum
        // Manifest and tensor table.
        case manifestTooLarge, manifestInvalid, tableInvalid, tooManyTensors, badName, duplicateName
        case unknownDType, unsupportedDType, unknownEncoding, badRank, absurdShape, sizeMismatch
        case offsetOutOfBounds, misaligned, overlappingTensors
        case tensorChecksum, decompression, missingTensor
        // Graph.
        case graphInvalid, attributeOutOfRange, badPads, absurdValueShape, shapeMismatch
        // Format 2.0: typed values and the function library.
        case typeMismatch, functionInvalid, versionTooOld
        // Image signature.
        case imageLimitOutOfRange
        // NumPy files.
        case npyInvalid, npyUnsupported
        // TensorFlow SavedModel and TensorBundle.
        case protobufInvalid, tableChecksum, bundleInvalid, graphCycle, graphTooDeep
    }

    public let code: Code
    public let message: String
    /// The file the error is about, when there is one.
    public let file: String?
    public let underlying: (any Error & Sendable)?
    public let thrownAt: String

    public init(_ code: Code, _ message: String, file: String? = nil, underlying: (any Error & Sendable)? = nil,
                fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.underlying = underlying
        self.thrownAt = "\(fileID):\(line)"
    }

    /// A copy naming `file`, for errors raised below the level that knows the path.
    public func inFile(_ path: String) -> FormatsError {
        if file != nil { return self }
        return FormatsError(code, message, file: path, underlying: underlying)
    }

    public var description: String {
        if let file { return "'\(file)': \(message)" }
        return message
    }
}
