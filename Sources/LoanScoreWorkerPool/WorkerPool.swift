import Atomics
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed set of worker threads that run jobs from a bounded lock-free queue.
///
/// Submitting never blocks and never queues without bound: ``trySubmit(_:)`` returns `false`
/// when the queue is full, and the caller answers BUSY (backpressure). Jobs run in roughly the
/// order submitted, on any worker, with no fairness between submitters.
///
/// ## Parking (the wake-up protocol)
///
/// An idle worker may spin briefly (``Configuration/spinCount`` polls, yielding the CPU
/// between them; none by default), then parks on the pool's condition variable. Submitters take the lock and signal
/// only when the atomic `sleepers` count is non-zero, so a busy pool never touches the lock.
/// No wake-up is lost because the two sides follow a Dekker-style handshake:
///
/// - worker: lock; `sleepers += 1`; **seq_cst fence**; re-check the queue (and the stop flag);
///   if still empty, `wait` (which releases the lock atomically); on wake `sleepers -= 1`;
///   unlock; loop.
/// - submitter: enqueue; **seq_cst fence**; load `sleepers`; if non-zero, lock, signal, unlock.
///
/// The two fences are totally ordered, so either the worker's re-check sees the new job, or
/// the submitter sees `sleepers > 0`. In the second case the submitter must take the lock,
/// which the worker holds from its increment until `wait` releases it, so the signal arrives
/// after the worker is waiting. A signal may wake a worker that finds nothing (another took
/// the job), and spurious wake-ups only make a worker poll again; both are harmless.
///
/// ## Shutdown
///
/// ``shutdown()`` stops accepting (later ``trySubmit(_:)`` calls return `false`), waits for
/// submissions already past the acceptance check, lets the workers run every queued job, and
/// joins the threads. Workers exit only once the stop flag is set and the queue is empty.
public final class WorkerPool: Sendable {
    /// A unit of work. It runs on a worker thread and must not block for long.
    public typealias Job = @Sendable () -> Void

    /// How a pool is sized and how its idle workers wait.
    public struct Configuration: Sendable {
        /// Worker threads; default one per active core.
        public var threads: Int
        /// Queued (not yet running) jobs the pool holds before refusing; rounded up to a power of two.
        public var queueCapacity: Int
        /// Polls of an empty queue, each followed by `sched_yield`, before an idle worker parks.
        ///
        /// Spinning only pays when a core is free for it. With a worker per core beside the
        /// event loops there is none: measured on 2 cores, 64 polls cost loanscored 15 % more
        /// CPU at 5,000 single-application requests a second and its p99 rose from 1.6–1.9 to
        /// 3.1 ms; batch-256 throughput did not gain from them either (within noise in two
        /// A/B series; Bench/results/2026-11-29-NOTES.md). Hence 0.
        public var spinCount: Int
        /// Thread name prefix (Linux truncates names to 15 bytes).
        public var name: String

        /// One thread per active core (`ProcessInfo.activeProcessorCount`).
        public static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

        /// - Parameters:
        ///   - threads: Worker threads (at least 1); default ``defaultThreads``.
        ///   - queueCapacity: Jobs waiting to run (at least 1); default 4096.
        ///   - spinCount: Polls before parking (0, the default, parks at once).
        ///   - name: Thread name prefix; default `"ls-worker"`.
        public init(
            threads: Int = Configuration.defaultThreads,
            queueCapacity: Int = 4096,
            spinCount: Int = 0,
            name: String = "ls-worker"
        ) {
            self.threads = threads
            self.queueCapacity = queueCapacity
            self.spinCount = spinCount
            self.name = name
        }
    }

    /// The configuration the pool was started with.
    public let configuration: Configuration
    private let shared: Shared
    /// Thread handles, taken (and joined) once by `shutdown()`.
    private let threads: ThreadHandles

    /// Starts the worker threads.
    ///
    /// - Precondition: `configuration.threads >= 1` and `configuration.queueCapacity >= 1`.
    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.threads >= 1, "a worker pool needs at least one thread")
        self.configuration = configuration
        shared = Shared(capacity: configuration.queueCapacity, spinCount: max(0, configuration.spinCount))
        threads = ThreadHandles()
        for number in 0..<configuration.threads {
            threads.start(name: "\(configuration.name)-\(number)", shared: shared)
        }
    }

    /// Convenience for `init(configuration: Configuration(threads: threads, queueCapacity: queueCapacity))`.
    public convenience init(threads: Int, queueCapacity: Int = 4096) {
        self.init(configuration: Configuration(threads: threads, queueCapacity: queueCapacity))
    }

    deinit {
        shutdown()
    }

    /// Queues a job unless the queue is full or the pool is shutting down.
    ///
    /// - Returns: `true` if the job will run; `false` if it was refused (queue full, or
    ///   ``shutdown()`` has begun), in which case it will never run.
    /// - Complexity: O(1); never blocks, except for briefly taking the lock to wake a parked
    ///   worker.
    public func trySubmit(_ job: @escaping Job) -> Bool {
        shared.submit(job)
    }

    /// Jobs queued and not yet taken by a worker (approximate under concurrency).
    public var queueDepth: Int { shared.queue.count }

    /// Jobs that have finished running since the pool started.
    public var jobsCompleted: Int { shared.completed.load(ordering: .relaxed) }

    /// The most jobs the queue holds (the configured capacity rounded up to a power of two).
    public var queueCapacity: Int { shared.queue.capacity }

    /// Stops accepting jobs, runs every job already queued, and joins the worker threads.
    ///
    /// Idempotent; later calls return at once. Must not be called from a job (a worker would
    /// wait for itself).
    /// - Complexity: Blocks until the queued jobs have run.
    public func shutdown() {
        shared.stopAccepting()
        threads.joinAll()
    }
}

/// State shared by the pool and its worker threads.
private final class Shared: Sendable {
    let queue: MPMCQueue<WorkerPool.Job>
    let spinCount: Int
    let parking = Parking()
    /// Workers that have announced they are about to wait (see the protocol in `WorkerPool`).
    let sleepers = ManagedAtomic<Int>(0)
    /// Submitters between their acceptance check and the end of their enqueue.
    let submitting = ManagedAtomic<Int>(0)
    let accepting = ManagedAtomic<Bool>(true)
    /// Set once no more jobs can arrive; workers exit when it is set and the queue is empty.
    let stopping = ManagedAtomic<Bool>(false)
    let completed = ManagedAtomic<Int>(0)

    init(capacity: Int, spinCount: Int) {
        queue = MPMCQueue(capacity: capacity)
        self.spinCount = spinCount
    }

    func submit(_ job: @escaping WorkerPool.Job) -> Bool {
        // Announce the submission before checking `accepting` (both seq_cst), so that
        // `stopAccepting` either sees us in `submitting` and waits, or we see it has stopped.
        submitting.wrappingIncrement(ordering: .sequentiallyConsistent)
        defer { submitting.wrappingDecrement(ordering: .releasing) }
        guard accepting.load(ordering: .sequentiallyConsistent), queue.tryEnqueue(job) else { return false }
        // Pairs with the worker's fence after `sleepers += 1`: either it sees our job, or we
        // see it sleeping.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .relaxed) > 0 {
            parking.withLock { parking.signalLocked() }
        }
        return true
    }

    func stopAccepting() {
        guard accepting.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged
        else { return }
        // Wait for submitters that passed the acceptance check to finish enqueueing; after
        // this no job can arrive, so "stopping and empty" is final. Their windows are a few
        // instructions long, so yielding is enough.
        while submitting.load(ordering: .sequentiallyConsistent) != 0 { sched_yield() }
        parking.withLock {
            stopping.store(true, ordering: .releasing)
            parking.broadcastLocked()
        }
    }

    /// A worker thread's loop: returns when the pool is stopping and the queue is empty.
    func work() {
        while true {
            if let job = nextJob() {
                job()
                completed.wrappingIncrement(ordering: .relaxed)
            } else {
                return
            }
        }
    }

    /// The next job, spinning and then parking while the queue is empty; `nil` on shutdown.
    private func nextJob() -> WorkerPool.Job? {
        for _ in 0..<spinCount {
            if let job = queue.tryDequeue() { return job }
            sched_yield()
        }
        if let job = queue.tryDequeue() { return job }
        return parking.withLock { () -> WorkerPool.Job? in
            while true {
                sleepers.wrappingIncrement(ordering: .relaxed)
                // Pairs with the submitter's fence after its enqueue (see `WorkerPool`).
                atomicMemoryFence(ordering: .sequentiallyConsistent)
                if let job = queue.tryDequeue() {
                    sleepers.wrappingDecrement(ordering: .relaxed)
                    return job
                }
                // `stopping` is written under the lock we hold, so this read is current.
                if stopping.load(ordering: .acquiring) {
                    sleepers.wrappingDecrement(ordering: .relaxed)
                    return nil
                }
                parking.waitLocked()
                sleepers.wrappingDecrement(ordering: .relaxed)
            }
        }
    }
}

/// The worker threads' pthread handles, joined exactly once.
private final class ThreadHandles: @unchecked Sendable {
    // @unchecked: `handles` is only touched under `lock`.
    private let lock = Parking()
    private var handles: [pthread_t] = []

    /// What a new thread runs; passed to `pthread_create` as a retained opaque pointer.
    private final class Start {
        let name: String
        let shared: Shared
        init(name: String, shared: Shared) {
            self.name = name
            self.shared = shared
        }
    }

    func start(name: String, shared: Shared) {
        let context = Unmanaged.passRetained(Start(name: name, shared: shared)).toOpaque()
        #if canImport(Darwin)
        var handle: pthread_t? = nil
        #else
        var handle = pthread_t()
        #endif
        // The closure is a C function (captures nothing); it takes back the +1 reference
        // from `passRetained` above, so `Start` lives exactly as long as the thread needs it.
        let status = pthread_create(&handle, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            // Foundation sets the pthread name (Linux keeps its first 15 bytes).
            Thread.current.name = start.name
            start.shared.work()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            fatalError("pthread_create failed: \(status)")
        }
        #if canImport(Darwin)
        lock.withLock { handles.append(handle!) }
        #else
        lock.withLock { handles.append(handle) }
        #endif
    }

    func joinAll() {
        // Joined under the lock, so a concurrent second `shutdown()` returns only after the
        // threads have exited.
        lock.withLock {
            for handle in handles { pthread_join(handle, nil) }
            handles.removeAll()
        }
    }
}
