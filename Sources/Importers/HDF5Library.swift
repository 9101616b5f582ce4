import CHDF5
import Formats

/// The HDF5 library Skiff reads Keras files with (the only file family that imports CHDF5).
public enum HDF5Library {
    /// "major.minor.release" of the linked libhdf5.
    public static var version: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        _ = H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }
}
