import Atomics
import Foundation
import LoanScoreWorkerPool
import Testing

@Suite("WorkerPool")
struct WorkerPoolTests {
    @Test(arguments: [0, 64])  // parking at once, and spinning before parking
    func runsEverySubmittedJobOnce(spinCount: Int) async {
        let pool = WorkerPool(configuration: .init(threads: 4, queueCapacity: 256, spinCount: spinCount))
        let jobs = 20_000
        let runs = ManagedAtomic<Int>(0)
        let sum = ManagedAtomic<Int>(0)
        var refused = 0
        for i in 0..<jobs {
            // Retry on BUSY, as a caller that is allowed to wait would.
            while !pool.trySubmit({
                runs.wrappingIncrement(ordering: .relaxed)
                sum.wrappingIncrement(by: i, ordering: .relaxed)
            }) {
                refused += 1
                await Task.yield()
            }
        }
        pool.shutdown()
        #expect(runs.load(ordering: .relaxed) == jobs)
        #expect(sum.load(ordering: .relaxed) == jobs * (jobs - 1) / 2)
        #expect(pool.jobsCompleted == jobs)
        #expect(pool.queueDepth == 0)
    }

    @Test func submittersOnManyThreadsAreAllServed() async {
        let pool = WorkerPool(threads: 3, queueCapacity: 64)
        let submitters = 6, each = 5_000
        let runs = ManagedAtomic<Int>(0)
        await runOnThreads((0..<submitters).map { _ in
            {
                for _ in 0..<each {
                    while !pool.trySubmit({ runs.wrappingIncrement(ordering: .relaxed) }) { sched_yield() }
                }
            }
        })
        pool.shutdown()
        #expect(runs.load(ordering: .relaxed) == submitters * each)
        #expect(pool.jobsCompleted == submitters * each)
    }

    @Test func refusesWhenFullAndAcceptsAgainAfterDraining() async throws {
        let pool = WorkerPool(configuration: .init(threads: 1, queueCapacity: 4, spinCount: 0))
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        // Occupy the only worker, so that the queue fills.
        #expect(pool.trySubmit {
            started.signal()
            gate.wait()
        })
        started.wait()
        let ran = ManagedAtomic<Int>(0)
        for _ in 0..<4 { #expect(pool.trySubmit { ran.wrappingIncrement(ordering: .relaxed) }) }
        #expect(pool.queueDepth == 4)
        #expect(!pool.trySubmit { ran.wrappingIncrement(ordering: .relaxed) }, "full: BUSY, not queued")
        gate.signal()
        // Wait for the worker to drain the queue.
        let deadline = ContinuousClock.now + .seconds(10)
        while pool.jobsCompleted < 5, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        #expect(pool.jobsCompleted == 5)
        #expect(pool.queueDepth == 0)
        #expect(pool.trySubmit { ran.wrappingIncrement(ordering: .relaxed) }, "accepted again after draining")
        pool.shutdown()
        #expect(ran.load(ordering: .relaxed) == 5, "four queued and one after draining; the refused one never ran")
    }

    @Test func shutdownRunsQueuedJobsThenRefuses() {
        let pool = WorkerPool(configuration: .init(threads: 2, queueCapacity: 128, spinCount: 0))
        let ran = ManagedAtomic<Int>(0)
        for _ in 0..<100 {
            #expect(pool.trySubmit {
                usleep(200)  // slow enough that most are still queued when shutdown begins
                ran.wrappingIncrement(ordering: .relaxed)
            })
        }
        pool.shutdown()
        #expect(ran.load(ordering: .relaxed) == 100, "every queued job ran before shutdown returned")
        #expect(!pool.trySubmit { ran.wrappingIncrement(ordering: .relaxed) })
        pool.shutdown()  // idempotent
        #expect(ran.load(ordering: .relaxed) == 100)
        #expect(pool.jobsCompleted == 100)
    }

    @Test func parkedWorkersWakeForLateJobs() async throws {
        // Workers park (spinCount 0) between sparse submissions; each job must still run
        // promptly, which would hang here if a wake-up were lost.
        let pool = WorkerPool(configuration: .init(threads: 4, queueCapacity: 8, spinCount: 0))
        for round in 1...200 {
            let done = DispatchSemaphore(value: 0)
            #expect(pool.trySubmit { done.signal() })
            #expect(done.wait(timeout: .now() + 5) == .success, "job \(round) did not run: lost wake-up")
            if round % 50 == 0 { try await Task.sleep(for: .milliseconds(2)) }  // let all workers park
        }
        pool.shutdown()
        #expect(pool.jobsCompleted == 200)
    }

    @Test func defaultsToOneThreadPerCore() {
        #expect(WorkerPool.Configuration().threads == ProcessInfo.processInfo.activeProcessorCount)
        let pool = WorkerPool(configuration: .init(queueCapacity: 1000))
        #expect(pool.queueCapacity == 1024)
        pool.shutdown()
    }
}
