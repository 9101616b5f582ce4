import CProtobufC
import Formats

/// The protobuf-c runtime Skiff parses SavedModel protos with (the only file family that imports CProtobufC).
public enum ProtobufCLibrary {
    public static var version: String { String(cString: protobuf_c_version()) }
}

/// The zstd library Skiff compresses tensors with.
public enum ZstdLibrary {
    public static var version: String { Zstd.versionString }
}
