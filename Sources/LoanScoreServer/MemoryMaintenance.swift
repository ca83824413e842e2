import Atomics
import CMalloc
import Foundation
import LoanScoreTLS
import Logging
import Prometheus

/// What the process holds right now: resident memory, the allocator's view of the heap, open
/// descriptors and live TLS connections. Read from `/proc/self` and glibc's `mallinfo2`;
/// figures a platform cannot give are zero.
struct ProcessMemory: Sendable, Equatable {
    /// Resident set size (`/proc/self/statm`), bytes.
    var residentBytes: UInt64
    /// Bytes malloc has handed out and not had back.
    var heapInUseBytes: UInt64
    /// Bytes freed to malloc and kept in its arenas (resident unless trimmed).
    var heapFreeBytes: UInt64
    /// Open file descriptors (`/proc/self/fd`).
    var openDescriptors: Int
    /// `SSL` objects alive in this process.
    var tlsConnections: Int

    static func now() -> ProcessMemory {
        let heap = CMalloc_statistics_now()
        return ProcessMemory(
            residentBytes: residentSetSize(), heapInUseBytes: heap.in_use, heapFreeBytes: heap.free_held,
            openDescriptors: openDescriptorCount(), tlsConnections: TLSContext.liveConnectionsInProcess)
    }

    /// The second field of `/proc/self/statm` (resident pages) times the page size; 0 when
    /// there is no /proc.
    static func residentSetSize() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
    }

    /// Entries of `/proc/self/fd` (the descriptor used to read it excluded); 0 without /proc.
    static func openDescriptorCount() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(2)) }
            if name.first == UInt8(ascii: ".") { continue }
            count += 1
        }
        return max(0, count - 1)
    }
}

/// Gives the memory that closed connections freed back to the system, and publishes what the
/// process holds as metrics.
///
/// glibc's malloc keeps freed memory in its arenas (one per thread that allocated, up to eight
/// per core) and returns it to the system only when the free space sits at the top of a heap.
/// A connection storm leaves thousands of freed connection objects (SSL objects, their
/// buffers, channels, pipelines) scattered between a few long-lived allocations, so after a
/// storm the heap is mostly free yet stays resident. `malloc_trim(0)` releases the free pages
/// of every arena (`madvise(MADV_DONTNEED)`); this runs it from a background task:
///
/// at most once per check (``ServerConfiguration/Memory-swift.struct/trimInterval``), when the
/// connection count has reached zero since the last check (the server went idle: nothing to
/// lose) and malloc holds more than 1 MiB free, or when it holds more than
/// ``ServerConfiguration/Memory-swift.struct/trimThreshold`` free (so a server that always has
/// a client still gives a storm's memory back) — and either way only if the resident size has
/// grown by more than 1 MiB since the last trim (measured from the lowest figure seen since).
/// A trim releases free pages but leaves them counted as free, so without that condition a
/// heap that keeps more than the threshold free (loading the bundle leaves ~18 MiB) was
/// trimmed at every check, releasing nothing after the first. A trim locks each arena while
/// it walks it, so it never runs more often than that, however often connections come and go.
///
/// Metrics: `loanscore_heap_in_use_bytes`, `loanscore_heap_free_bytes`,
/// `loanscore_tls_connections`, `loanscore_malloc_trim_total` and
/// `loanscore_malloc_trim_released_bytes_total` (resident bytes the trims gave back). The
/// process's resident size and descriptors are the standard `process_*` metrics
/// (``ProcessMetrics``).
final class MemoryMaintenance: Sendable {
    private let interval: Duration
    private let thresholdBytes: UInt64
    private let logger: Logger
    /// Set when the connection count reaches zero; the next check then trims at a lower
    /// threshold (1 MiB free).
    private let drained = ManagedAtomic<Bool>(false)
    private let trims = ManagedAtomic<Int>(0)
    /// The resident size right after the last trim, lowered as later checks see less: a trim
    /// is worth it only once the process has grown past it.
    private let residentAfterTrim = ManagedAtomic<UInt64>(0)
    /// The process's figures now (`ProcessMemory.now`; replaced in tests).
    private let sample: @Sendable () -> ProcessMemory
    /// Gives free pages back (`malloc_trim(0)`; replaced in tests).
    private let release: @Sendable () -> Void
    private let stopped = ManagedAtomic<Bool>(false)

    private let heapInUse: Gauge
    private let heapFree: Gauge
    private let tlsConnections: Gauge
    private let trimCounter: Counter
    private let releasedCounter: Counter

    /// - Parameters:
    ///   - interval: How often to check (and publish the gauges); zero disables trimming.
    ///   - thresholdBytes: Free heap bytes above which a check trims even with connections open
    ///     (once the process has grown since the last trim).
    ///   - registry: where the gauges and counters are made (a fresh one by default, which
    ///     nothing emits).
    init(interval: Duration, thresholdBytes: UInt64, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
         sample: @escaping @Sendable () -> ProcessMemory = ProcessMemory.now,
         release: @escaping @Sendable () -> Void = { _ = CMalloc_trim() }) {
        self.interval = interval
        self.thresholdBytes = thresholdBytes
        self.logger = logger
        self.sample = sample
        self.release = release
        heapInUse = registry.makeGauge(MetricsCatalog.heapInUse)
        heapFree = registry.makeGauge(MetricsCatalog.heapFree)
        tlsConnections = registry.makeGauge(MetricsCatalog.tlsConnections)
        trimCounter = registry.makeCounter(MetricsCatalog.mallocTrims)
        releasedCounter = registry.makeCounter(MetricsCatalog.mallocTrimReleased)
    }

    /// How many trims have run (for tests).
    var trimCount: Int { trims.load(ordering: .relaxed) }

    /// Called when the connection count reaches zero: the next check trims (not the caller's
    /// thread, which is an event loop).
    func connectionsDrained() {
        drained.store(true, ordering: .relaxed)
    }

    /// Checks every `interval` until cancelled or stopped.
    func run() async {
        guard interval > .zero else { return }
        while !Task.isCancelled && !stopped.load(ordering: .relaxed) {
            try? await Task.sleep(for: interval)
            if Task.isCancelled || stopped.load(ordering: .relaxed) { break }
            check()
        }
    }

    /// Stops ``run()`` (with the task's cancellation, which ends its sleep).
    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    /// Publishes the gauges, and trims when the process has grown since the last trim and the
    /// heap holds more free memory than the threshold (1 MiB once the server drained).
    @discardableResult
    func check() -> ProcessMemory {
        let before = sample()
        let wasDrained = drained.exchange(false, ordering: .relaxed)
        let floor = min(residentAfterTrim.load(ordering: .relaxed), before.residentBytes)
        // 1 MiB: below that there is nothing worth the trim's page faults later.
        let grown = before.residentBytes - floor > 1 << 20
        let worthTrimming = grown && before.heapFreeBytes > (wasDrained ? 1 << 20 : thresholdBytes)
        guard worthTrimming else {
            residentAfterTrim.store(floor, ordering: .relaxed)
            publish(before)
            return before
        }
        let after = trim(before: before)
        logger.debug("malloc_trim", metadata: [
            "reason": "\(wasDrained ? "no connections" : "free heap above threshold")",
            "resident_before": "\(before.residentBytes)", "resident_after": "\(after.residentBytes)",
            "heap_free_before": "\(before.heapFreeBytes)", "heap_in_use": "\(after.heapInUseBytes)",
        ])
        return after
    }

    /// Runs malloc_trim(0) now and publishes the figures after it.
    @discardableResult
    func trim(before: ProcessMemory? = nil) -> ProcessMemory {
        let before = before ?? sample()
        release()
        let after = sample()
        residentAfterTrim.store(after.residentBytes, ordering: .relaxed)
        trims.wrappingIncrement(ordering: .relaxed)
        trimCounter.increment()
        if before.residentBytes > after.residentBytes {
            releasedCounter.increment(by: Int64(before.residentBytes - after.residentBytes))
        }
        publish(after)
        return after
    }

    /// Sets the memory gauges (also called on every /metrics scrape).
    func publish(_ memory: ProcessMemory) {
        heapInUse.set(to: Double(memory.heapInUseBytes))
        heapFree.set(to: Double(memory.heapFreeBytes))
        tlsConnections.set(to: Double(memory.tlsConnections))
    }
}
