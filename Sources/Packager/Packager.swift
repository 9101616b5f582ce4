import Formats

/// Deployment packaging (Lambda build contexts, S3 layouts) lives in this module; see
/// docs/ARCHITECTURE.md for what goes here. It depends only on `Formats`: it reads `.skiff` manifests
/// and never runs models.
public enum Packager {
    /// Name of the model file inside every package layout.
    public static let modelFileName = "model.skiff"
}
