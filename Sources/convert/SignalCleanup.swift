import Dispatch
import Foundation
import Formats
import Importers

/// SIGINT/SIGTERM while a command writes files: remove the temporary files it registered (`TemporaryFiles`),
/// then die of the same signal, so an interrupted `convert` leaves neither `OUT.skiff.tmp-…` beside its output
/// nor extracted weights in `$TMPDIR`. (`serve` and `lambda` handle these signals themselves, to shut down
/// gracefully, and do not install this.)
enum SignalCleanup {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let queue = DispatchQueue(label: "skiff.signal-cleanup")
    private static let lock = NSLock()
    nonisolated(unsafe) private static var children: Set<Int32> = []

    /// A child process (see `IsolatedH5`) killed before the files are removed.
    static func track(_ pid: Int32) {
        lock.lock()
        defer { lock.unlock() }
        children.insert(pid)
    }

    static func untrack(_ pid: Int32) {
        lock.lock()
        defer { lock.unlock() }
        children.remove(pid)
    }

    static func install() {
        guard sources.isEmpty else { return }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)  // delivered to the dispatch source instead, on an ordinary thread
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                lock.lock()
                for pid in children { kill(pid, SIGKILL) }  // a child writing a registered file stops first
                lock.unlock()
                TemporaryFiles.removeAll()
                // Die of the signal. It may be blocked (a mask inherited from the parent): unblock it on this
                // thread, then raise it here, where the default action ends the whole process.
                signal(sig, SIG_DFL)
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, sig)
                pthread_sigmask(SIG_UNBLOCK, &set, nil)
                raise(sig)
                _exit(128 + sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Called before reporting an error: if the error is the interruption's doing (its files vanished), wait
    /// for the handler to end the process with the signal instead of exiting 2 with a misleading message.
    static func yieldToInterruption() {
        guard !sources.isEmpty, TemporaryFiles.interrupted else { return }
        while true { pause() }
    }
}
