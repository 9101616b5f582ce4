import CTurboJPEG

/// libjpeg-turbo's TurboJPEG API, used for the image input signature (the only file family that
/// imports CTurboJPEG).
public enum TurboJPEG {
    /// Whether a decompressor can be created (the library is linked and usable).
    public static var isAvailable: Bool {
        guard let handle = tjInitDecompress() else { return false }
        tjDestroy(handle)
        return true
    }
}
