import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// The standard process metrics, under the names Prometheus client libraries use
/// (`process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
/// `process_max_fds`, `process_cpu_seconds_total`, `process_start_time_seconds`), so stock
/// dashboards and alerts work. Read from `/proc/self` on every scrape (``publish()``); figures
/// a platform cannot give stay zero.
final class ProcessMetrics: Sendable {
    private let resident: Gauge
    private let virtual: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let cpu: Counter
    private let startTime: Gauge
    /// The CPU seconds already added to ``cpu`` (a counter only grows: each scrape adds the difference).
    private let cpuPublished = NIOLockedValueBox<Double>(0)

    init(registry: PrometheusCollectorRegistry) {
        typealias M = MetricsCatalog
        resident = registry.makeGauge(M.processResidentMemory)
        virtual = registry.makeGauge(M.processVirtualMemory)
        openFDs = registry.makeGauge(M.processOpenFDs)
        maxFDs = registry.makeGauge(M.processMaxFDs)
        cpu = registry.makeCounter(M.processCPUSeconds)
        startTime = registry.makeGauge(M.processStartTime)
        if let start = Self.startTimeSeconds() { startTime.set(to: start) }
        publish()
    }

    /// Reads `/proc/self` now and sets every figure.
    func publish() {
        let page = Double(max(1, sysconf(Int32(_SC_PAGESIZE))))
        if let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = text.split(separator: " ")
            if fields.count > 1, let size = Double(fields[0]), let pages = Double(fields[1]) {
                virtual.set(to: size * page)
                resident.set(to: pages * page)
            }
        }
        openFDs.set(to: Double(ProcessMemory.openDescriptorCount()))
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(to: Double(limit.rlim_cur)) }
        if let seconds = Self.cpuSeconds() {
            cpuPublished.withLockedValue { published in
                if seconds > published {
                    cpu.increment(by: seconds - published)
                    published = seconds
                }
            }
        }
    }

    /// `/proc/self/stat`'s fields after the command name (which may hold spaces): index 0 is
    /// the state (field 3 of proc(5)).
    private static func statFields() -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    private static var ticksPerSecond: Double { Double(max(1, sysconf(Int32(_SC_CLK_TCK)))) }

    /// User plus system CPU time (utime and stime, fields 14 and 15), in seconds.
    static func cpuSeconds() -> Double? {
        guard let fields = statFields(), fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            return nil
        }
        return (user + system) / ticksPerSecond
    }

    /// The boot time (`btime` of `/proc/stat`) plus the process's start (field 22, ticks
    /// after boot), in Unix seconds.
    static func startTimeSeconds() -> Double? {
        guard let fields = statFields(), fields.count > 19, let ticks = Double(fields[19]),
              let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let boot = Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces)) else { return nil }
        return boot + ticks / ticksPerSecond
    }
}
