import CSkiffKernels
import Foundation
import Formats

/// How many CPUs this process may really use: the CPUs its affinity mask allows, capped by the cgroup CPU
/// quota (`cpu.max` in cgroup v2, `cpu.cfs_quota_us` / `cpu.cfs_period_us` in v1) of its cgroup and every
/// parent. A Lambda function at 1024 MB gets about 0.6 of a vCPU: the engine then runs one thread instead of
/// spinning two on a fraction of a core.
public enum CPUBudget {
    public struct Budget: Sendable, Equatable, CustomStringConvertible {
        /// Threads worth running: the affinity count, capped by the quota rounded down (at least 1).
        public var threads: Int
        public var affinity: Int
        /// CPUs the quota allows, if there is a quota.
        public var quota: Double?
        public var description: String {
            "\(threads) thread\(threads == 1 ? "" : "s") (affinity \(affinity) CPU\(affinity == 1 ? "" : "s")"
                + (quota.map { ", cgroup quota \(Digits.fixed($0, places: 2)) CPUs" } ?? "") + ")"
        }
    }

    /// The budget of this process, read once.
    public static let current: Budget = measure()

    public static func measure(cgroupRoot: String = "/sys/fs/cgroup", procSelfCgroup: String = "/proc/self/cgroup", affinity: Int? = nil) -> Budget {
        let cpus = affinity ?? affinityCount() ?? ProcessInfo.processInfo.activeProcessorCount
        let q = quota(cgroupRoot: cgroupRoot, procSelfCgroup: procSelfCgroup)
        var threads = max(1, cpus)
        if let q { threads = max(1, min(threads, Int(q.rounded(.down)))) }
        return Budget(threads: threads, affinity: cpus, quota: q)
    }

    /// CPUs in the affinity mask (`sched_getaffinity`).
    static func affinityCount() -> Int? {
        let n = Int(skiff_affinity_count())
        return n > 0 ? n : nil
    }

    /// The tightest CPU quota over the process's cgroup and its parents, in CPUs; nil when unlimited.
    static func quota(cgroupRoot: String, procSelfCgroup: String) -> Double? {
        guard let text = try? String(contentsOfFile: procSelfCgroup, encoding: .utf8) else { return nil }
        var limits: [Double] = []
        for line in text.split(separator: "\n") {
            // "0::/path" (v2), or "N:cpu,cpuacct:/path" (v1).
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            var path = parts[2]
            let v1 = parts[1].split(separator: ",").contains("cpu")
            guard parts[1].isEmpty || v1 else { continue }
            let base = v1 ? cgroupRoot + "/" + parts[1] : cgroupRoot
            while true {
                let dir = base + (path == "/" ? "" : path)
                if v1 {
                    if let q = read(dir + "/cpu.cfs_quota_us").flatMap(Double.init), let p = read(dir + "/cpu.cfs_period_us").flatMap(Double.init), q > 0, p > 0 {
                        limits.append(q / p)
                    }
                } else if let max = read(dir + "/cpu.max"), let q = parseCPUMax(max) {
                    limits.append(q)
                }
                if path == "/" || path.isEmpty { break }
                path = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
            }
        }
        return limits.min()
    }

    /// `cpu.max`: "QUOTA PERIOD" in microseconds, or "max PERIOD" for no limit.
    public static func parseCPUMax(_ text: String) -> Double? {
        let f = text.split(whereSeparator: \.isWhitespace)
        guard f.count == 2, f[0] != "max", let q = Double(f[0]), let p = Double(f[1]), q > 0, p > 0 else { return nil }
        return q / p
    }

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmedWhitespace
    }
}
