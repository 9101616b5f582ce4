import Foundation

/// Temporary files this process is writing (`AtomicFile`'s, extracted archive members), so that an
/// interrupted command leaves none behind: the CLI's SIGINT/SIGTERM handler calls `removeAll()` before the
/// process ends. Error paths remove their own files; this covers the paths an error never takes.
public enum TemporaryFiles {
    private static let lock = PlainLock()
    nonisolated(unsafe) private static var paths: Set<String> = []
    nonisolated(unsafe) private static var closing = false

    /// Creates `path` for writing (it must not exist) and registers it, atomically with respect to `removeAll()`.
    /// - Returns: the file descriptor, or -1 with `errno` set (EINTR once the process is being interrupted).
    public static func create(_ path: String, mode: mode_t = 0o644) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        guard !closing else { errno = EINTR; return -1 }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd >= 0 { paths.insert(path) }
        return fd
    }

    /// Registers a path some other code will create (for example by renaming a registered file to it).
    public static func register(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.insert(path)
    }

    /// Forgets `path` (once it has been renamed into place or removed).
    public static func unregister(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.remove(path)
    }

    /// Whether `removeAll()` has run: the process is being interrupted.
    public static var interrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closing
    }

    /// Removes every registered file; later `create` calls fail. Called from the signal handler's thread,
    /// never from a signal context.
    public static func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        closing = true
        for p in paths { unlink(p) }
        paths.removeAll()
    }
}
