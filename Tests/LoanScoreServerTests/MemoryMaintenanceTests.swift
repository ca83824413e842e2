@testable import LoanScoreServer
import Logging
import Synchronization
import Testing

/// The trim policy of ``MemoryMaintenance``, on scripted memory figures.
@Suite("Memory maintenance")
struct MemoryMaintenanceTests {
    /// Free heap figures the checks will see, and the trims that ran.
    final class Heap: Sendable {
        let free = Mutex<UInt64>(0)
        let trims = Atomic<Int>(0)
        func sample() -> ProcessMemory {
            ProcessMemory(residentBytes: 0, heapInUseBytes: 0, heapFreeBytes: free.withLock { $0 }, openDescriptors: 0, tlsConnections: 0)
        }
    }

    static let mib: UInt64 = 1 << 20

    func maintenance(_ heap: Heap) -> MemoryMaintenance {
        MemoryMaintenance(interval: .seconds(10), thresholdBytes: 16 * Self.mib, logger: Logger(label: "test"),
                          sample: heap.sample, release: { heap.trims.add(1, ordering: .relaxed) })
    }

    @Test("Free memory above the threshold is trimmed once, not again at every check")
    func trimsOnceForTheSameFreeMemory() {
        let heap = Heap()
        heap.free.withLock { $0 = 18 * Self.mib }  // what loading a bundle leaves
        let memory = maintenance(heap)
        memory.check()
        #expect(heap.trims.load(ordering: .relaxed) == 1)
        for _ in 0..<3 { memory.check() }  // the pages are released but still counted as free
        #expect(heap.trims.load(ordering: .relaxed) == 1)
        heap.free.withLock { $0 = 30 * Self.mib }  // 12 MiB more: under the threshold
        memory.check()
        #expect(heap.trims.load(ordering: .relaxed) == 1)
        heap.free.withLock { $0 = 40 * Self.mib }  // a storm's worth more (22 MiB)
        memory.check()
        #expect(heap.trims.load(ordering: .relaxed) == 2)
    }

    @Test("Reuse lowers what counts as trimmed; memory freed again is trimmed again")
    func reuseThenFreeAgain() {
        let heap = Heap()
        heap.free.withLock { $0 = 18 * Self.mib }
        let memory = maintenance(heap)
        memory.check()
        heap.free.withLock { $0 = 2 * Self.mib }  // the free memory was reused
        memory.check()
        heap.free.withLock { $0 = 19 * Self.mib }  // and freed again: 17 MiB over the low point
        memory.check()
        #expect(heap.trims.load(ordering: .relaxed) == 2)
    }

    @Test("Once drained, 1 MiB of new free memory is enough; none is not")
    func drained() {
        let heap = Heap()
        heap.free.withLock { $0 = 18 * Self.mib }
        let memory = maintenance(heap)
        memory.check()
        memory.connectionsDrained()
        memory.check()
        #expect(heap.trims.load(ordering: .relaxed) == 1, "nothing new to give back")
        heap.free.withLock { $0 = 20 * Self.mib }
        memory.connectionsDrained()
        memory.check()
        #expect(heap.trims.load(ordering: .relaxed) == 2)
    }
}
