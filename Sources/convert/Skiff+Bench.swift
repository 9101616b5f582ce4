import ArgumentParser
import Engine
import Foundation
import Formats
import Importers

extension Skiff {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a .skiff model: load time, first-run and warm latency, throughput, peak memory.",
            discussion: "Inputs are deterministic pseudo-random tensors of the model's input shapes (batch from --batch).")

        @Argument(help: "The .skiff model.")
        var model: String

        @Option(help: "Batch size.")
        var batch: Int = 1

        @Option(help: "Warm runs to time (after the first).")
        var runs: Int = 20

        @Option(help: "Threads for the engine (default: the CPUs this process may use — its affinity, capped by the cgroup CPU quota).")
        var threads: Int?

        @Flag(help: "Use only the reference kernels (the slow, obviously-correct definitions).")
        var reference = false

        @Flag(help: "Also report the time spent per op kind over the warm runs.")
        var profile = false

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if batch < 1 || runs < 1 { throw ValidationError("--batch and --runs must be at least 1") }
            if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        }

        struct Report: Encodable {
            var model: String
            var batch: Int
            var threads: Int
            var kernels: String
            var loadMilliseconds: Double
            var firstRunMilliseconds: Double
            var warmMilliseconds: [String: Double]
            /// Every warm run's time in run order (ms), for benchmarks that pool runs over several processes.
            var warmTimes: [Double]
            var imagesPerSecond: Double
            var peakRSSMegabytes: Double
            var fileMegabytes: Double
            var profileMilliseconds: [String: Double]?
        }

        func run() throws {
            let budget = CPUBudget.current
            if let threads {
                Engine.setThreads(threads)
                if threads > budget.threads {
                    FileHandle.standardError.write(Data("skiff: warning: --threads \(threads) is more than this process may use: \(budget); threads beyond it wait for each other\n".utf8))
                }
            }
            let clock = ContinuousClock()
            let t0 = clock.now
            let file = try SkiffFile(path: model)
            let engine = try Model(file: file, kernels: reference ? .reference : .fast)
            let load = clock.now - t0
            var feeds: [String: Tensor] = [:]
            var state: UInt64 = 0x5EED
            for input in file.manifest.graph.inputs {
                let dims = input.shape.dropFirst().map { $0.fixedValue ?? 224 }
                let shape = [batch] + dims
                feeds[input.name] = Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    return Float(state >> 40) / Float(1 << 24) * 2 - 1
                })
            }
            let t1 = clock.now
            _ = try engine.run(feeds)
            let first = clock.now - t1
            var times: [Double] = []
            engine.profiling = profile
            for _ in 0..<runs {
                let t = clock.now
                _ = try engine.run(feeds)
                times.append(Self.ms(clock.now - t))
            }
            let inOrder = times
            times.sort()
            func pct(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * p).rounded()))] }
            let median = pct(0.5)
            let report = Report(
                model: model, batch: batch, threads: threads ?? budget.threads, kernels: reference ? "reference" : "fast",
                loadMilliseconds: Self.ms(load), firstRunMilliseconds: Self.ms(first),
                warmMilliseconds: ["min": times[0], "median": median, "p90": pct(0.9)], warmTimes: inOrder,
                imagesPerSecond: (Double(batch) / (median / 1000) * 10).rounded() / 10,
                peakRSSMegabytes: Self.peakRSS(), fileMegabytes: (Double(file.fileLength) / 1_048_576 * 100).rounded() / 100,
                profileMilliseconds: profile ? Dictionary(uniqueKeysWithValues: engine.profile.map { ($0.key.rawValue, ($0.value / Double(runs) * 100).rounded() / 100) }) : nil)
            if global.json { return try CLIOutput.printJSON(report) }
            print("\(model): batch \(batch), \(report.threads) thread(s), \(report.kernels) kernels")
            print(String(format: "  load %.1f ms · first run %.1f ms · warm min %.2f / median %.2f / p90 %.2f ms · %.1f images/s · peak RSS %.1f MB",
                         report.loadMilliseconds, report.firstRunMilliseconds, times[0], median, pct(0.9), report.imagesPerSecond, report.peakRSSMegabytes))
            if let p = report.profileMilliseconds {
                print("  per run: " + p.sorted { $0.value > $1.value }.map { String(format: "%@ %.2f ms", $0.key, $0.value) }.joined(separator: " · "))
                print("  slowest nodes: " + engine.nodeProfile.sorted { $0.value > $1.value }.prefix(8)
                    .map { String(format: "%@ %.2f ms", $0.key, $0.value / Double(runs)) }.joined(separator: " · "))
            }
        }

        static func ms(_ d: Duration) -> Double {
            let (s, a) = d.components
            return ((Double(s) * 1000 + Double(a) / 1e15) * 100).rounded() / 100
        }

        /// Peak resident set size of this process image: VmHWM from /proc/self/status (getrusage's
        /// ru_maxrss would include a forking parent's size, which survives exec on Linux).
        static func peakRSS() -> Double {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                  let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else {
                var usage = rusage()
                getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
                return (Double(usage.ru_maxrss) / 1024 * 10).rounded() / 10
            }
            return (kb / 1024 * 10).rounded() / 10
        }
    }
}
