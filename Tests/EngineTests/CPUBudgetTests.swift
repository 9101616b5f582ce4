import Foundation
@testable import Engine
import Testing
import TestSupport

/// The engine's default thread count: affinity capped by the cgroup CPU quota, read from a cgroup tree.
@Suite struct CPUBudgetTests {
    func tree(_ files: [String: String], cgroup: String) throws -> (root: String, proc: String) {
        let dir = try temporaryDirectory()
        for (path, text) in files {
            let url = URL(fileURLWithPath: dir + "/fs" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        try Data(cgroup.utf8).write(to: URL(fileURLWithPath: dir + "/cgroup"))
        return (dir + "/fs", dir + "/cgroup")
    }

    @Test func cpuMaxIsParsed() {
        #expect(CPUBudget.parseCPUMax("max 100000\n") == nil)
        #expect(CPUBudget.parseCPUMax("60000 100000") == 0.6)
        #expect(CPUBudget.parseCPUMax("200000 100000") == 2)
        #expect(CPUBudget.parseCPUMax("garbage") == nil)
    }

    @Test func aFractionOfACPUGivesOneThread() throws {
        // Lambda at 1024 MB: about 0.6 vCPU on a 2-CPU host.
        let t = try tree(["/fn/cpu.max": "60000 100000\n", "/cpu.max": "max 100000\n"], cgroup: "0::/fn\n")
        let b = CPUBudget.measure(cgroupRoot: t.root, procSelfCgroup: t.proc, affinity: 2)
        #expect(b.threads == 1 && b.quota == 0.6 && b.affinity == 2)
        #expect(b.description == "1 thread (affinity 2 CPUs, cgroup quota 0.60 CPUs)")
    }

    @Test func theTightestParentQuotaWins() throws {
        let t = try tree(["/a/b/cpu.max": "max 100000", "/a/cpu.max": "300000 100000", "/cpu.max": "150000 100000"], cgroup: "0::/a/b\n")
        #expect(CPUBudget.measure(cgroupRoot: t.root, procSelfCgroup: t.proc, affinity: 8).threads == 1)
        let roomy = try tree(["/a/cpu.max": "400000 100000"], cgroup: "0::/a\n")
        #expect(CPUBudget.measure(cgroupRoot: roomy.root, procSelfCgroup: roomy.proc, affinity: 2).threads == 2, "never more than the affinity")
    }

    @Test func cgroupV1QuotasCount() throws {
        let t = try tree(["/cpu,cpuacct/fn/cpu.cfs_quota_us": "50000", "/cpu,cpuacct/fn/cpu.cfs_period_us": "100000",
                          "/cpu,cpuacct/cpu.cfs_quota_us": "-1", "/cpu,cpuacct/cpu.cfs_period_us": "100000"],
                         cgroup: "4:cpu,cpuacct:/fn\n3:memory:/fn\n")
        let b = CPUBudget.measure(cgroupRoot: t.root, procSelfCgroup: t.proc, affinity: 4)
        #expect(b.threads == 1 && b.quota == 0.5)
    }

    @Test func noQuotaMeansTheAffinity() throws {
        let t = try tree(["/cpu.max": "max 100000"], cgroup: "0::/\n")
        #expect(CPUBudget.measure(cgroupRoot: t.root, procSelfCgroup: t.proc, affinity: 3) == .init(threads: 3, affinity: 3, quota: nil))
        #expect(CPUBudget.affinityCount() ?? 0 >= 1)
    }

    /// Under `taskset -c 0` the engine's default is one thread, and `skiff bench --threads 2` says why it is more.
    @Test func benchWarnsAboveTheBudget() throws {
        let dir = try temporaryDirectory()
        let model = dir + "/m.skiff"
        #expect(try SkiffRun("convert", "keras", ImageFixtures.directory + "/classifier.keras", "-o", model).status == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        p.arguments = ["-c", "0", SkiffRun.binary, "bench", model, "--runs", "2", "--threads", "2", "--json"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(e)")
        #expect(e.contains("--threads 2 is more than this process may use: 1 thread (affinity 1 CPU"), "\(e)")
        let q = Process()
        q.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        q.arguments = ["-c", "0", SkiffRun.binary, "bench", model, "--runs", "2", "--json"]
        let out2 = Pipe()
        q.standardOutput = out2
        q.standardError = FileHandle.nullDevice
        try q.run()
        let o2 = out2.fileHandleForReading.readDataToEndOfFile()
        q.waitUntilExit()
        #expect((try JSONSerialization.jsonObject(with: o2) as? [String: Any])?["threads"] as? Int == 1, "the default follows the affinity")
        #expect(!o.isEmpty)
    }
}
