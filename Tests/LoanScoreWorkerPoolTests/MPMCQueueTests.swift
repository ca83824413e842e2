import Atomics
import Foundation
import LoanScoreWorkerPool
import Testing

@Suite("MPMCQueue")
struct MPMCQueueTests {
    @Test(arguments: [(1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (1000, 1024), (1024, 1024), (1025, 2048)])
    func capacityIsRoundedUpToAPowerOfTwo(requested: Int, expected: Int) {
        #expect(MPMCQueue<Int>(capacity: requested).capacity == expected)
    }

    @Test func isFIFOOnOneThread() {
        let queue = MPMCQueue<Int>(capacity: 8)
        for lap in 0..<5 {  // several laps, so every cell's sequence number wraps round
            for i in 0..<6 { #expect(queue.tryEnqueue(lap * 10 + i)) }
            #expect(queue.count == 6)
            for i in 0..<6 { #expect(queue.tryDequeue() == lap * 10 + i) }
            #expect(queue.isEmpty)
        }
    }

    @Test func refusesWhenFullAndReturnsNilWhenEmpty() {
        let queue = MPMCQueue<String>(capacity: 4)
        #expect(queue.tryDequeue() == nil)
        for i in 0..<4 { #expect(queue.tryEnqueue("e\(i)")) }
        #expect(queue.count == 4)
        #expect(!queue.tryEnqueue("overflow"))
        #expect(queue.count == 4)
        #expect(queue.tryDequeue() == "e0")
        #expect(queue.tryEnqueue("e4"), "one slot freed, one accepted")
        #expect(!queue.tryEnqueue("overflow"))
        for i in 1...4 { #expect(queue.tryDequeue() == "e\(i)") }
        #expect(queue.tryDequeue() == nil)
        #expect(queue.count == 0)
    }

    /// Counts deinitialisations of its instances.
    final class Tracked: Sendable {
        let id: Int
        let deaths: ManagedAtomic<Int>
        init(_ id: Int, _ deaths: ManagedAtomic<Int>) {
            self.id = id
            self.deaths = deaths
        }
        deinit { deaths.wrappingIncrement(ordering: .relaxed) }
    }

    @Test func releasesEveryElementExactlyOnceIncludingThoseLeftAtDeinit() {
        let deaths = ManagedAtomic<Int>(0)
        do {
            let queue = MPMCQueue<Tracked>(capacity: 8)
            // Wrap round once so the leftovers straddle the end of the buffer.
            for i in 0..<6 { #expect(queue.tryEnqueue(Tracked(i, deaths))) }
            for i in 0..<6 { #expect(queue.tryDequeue()?.id == i) }
            #expect(deaths.load(ordering: .relaxed) == 6, "dequeued elements die with their last reference")
            for i in 6..<14 { #expect(queue.tryEnqueue(Tracked(i, deaths))) }
            #expect(!queue.tryEnqueue(Tracked(99, deaths)), "full")
            #expect(deaths.load(ordering: .relaxed) == 7, "a refused element is released at once")
            #expect(queue.tryDequeue()?.id == 6)
            #expect(deaths.load(ordering: .relaxed) == 8)
        }
        #expect(deaths.load(ordering: .relaxed) == 15, "the seven left in the queue are released by deinit, once each")
    }

    @Test func manyProducersAndConsumersLoseAndDuplicateNothing() async {
        let producers = 8, perProducer = 100_000, consumers = 4
        let total = producers * perProducer
        let queue = MPMCQueue<Int>(capacity: 1024)
        // One counter per id: every id must be seen exactly once.
        let seen = UnsafeMutablePointer<Int.AtomicRepresentation>.allocate(capacity: total)
        for i in 0..<total { (seen + i).initialize(to: .init(0)) }
        defer { seen.deallocate() }
        let seenAddress = UInt(bitPattern: seen)  // Sendable stand-in for the pointer
        let consumed = ManagedAtomic<Int>(0)
        let refusals = ManagedAtomic<Int>(0)

        let producing: [@Sendable () -> Void] = (0..<producers).map { producer in
            { @Sendable in
                for item in 0..<perProducer {
                    let id = producer * perProducer + item
                    while !queue.tryEnqueue(id) {
                        refusals.wrappingIncrement(ordering: .relaxed)
                        sched_yield()
                    }
                }
            }
        }
        let consuming: [@Sendable () -> Void] = (0..<consumers).map { _ in
            { @Sendable in
                let seen = UnsafeMutablePointer<Int.AtomicRepresentation>(bitPattern: seenAddress)!
                var lastFromProducer = [Int](repeating: -1, count: producers)
                while consumed.load(ordering: .relaxed) < total {
                    guard let id = queue.tryDequeue() else { sched_yield(); continue }
                    UnsafeAtomic<Int>(at: seen + id).wrappingIncrement(ordering: .relaxed)
                    // FIFO per producer as seen by one consumer: each producer's ids arrive in order.
                    let producer = id / perProducer
                    precondition(id > lastFromProducer[producer], "producer \(producer)'s items out of order")
                    lastFromProducer[producer] = id
                    consumed.wrappingIncrement(ordering: .relaxed)
                }
            }
        }
        await runOnThreads(producing + consuming)

        #expect(consumed.load(ordering: .relaxed) == total)
        var missing = 0, duplicated = 0
        for i in 0..<total {
            switch UnsafeAtomic<Int>(at: seen + i).load(ordering: .relaxed) {
            case 0: missing += 1
            case 1: ()
            default: duplicated += 1
            }
        }
        #expect(missing == 0)
        #expect(duplicated == 0)
        #expect(queue.tryDequeue() == nil)
        #expect(queue.count == 0)
    }
}

/// Runs each body on a thread of its own and waits, without blocking the test's executor,
/// until all have returned.
func runOnThreads(_ bodies: [@Sendable () -> Void]) async {
    let finished = ManagedAtomic<Int>(0)
    for body in bodies {
        Thread {
            body()
            finished.wrappingIncrement(ordering: .releasing)
        }.start()
    }
    while finished.load(ordering: .acquiring) < bodies.count {
        try? await Task.sleep(for: .milliseconds(5))
    }
}
