@testable import LoanScoreServer
import Logging
import Synchronization
import Testing

/// The trim policy of ``MemoryMaintenance``, on scripted memory figures.
@Suite("Memory maintenance")
struct MemoryMaintenanceTests {
    static let mib: UInt64 = 1 << 20

    /// Scripted figures (MiB): what malloc holds free, and the resident size, which a trim
    /// lowers by `released`; `free` stays, as with glibc (released pages still count as free).
    final class Heap: Sendable {
        let figures = Mutex<(free: UInt64, resident: UInt64)>((0, 0))
        let released: UInt64
        let trims = Atomic<Int>(0)
        init(free: UInt64, resident: UInt64, released: UInt64) {
            figures.withLock { $0 = (free, resident) }
            self.released = released
        }
        func set(free: UInt64, resident: UInt64) { figures.withLock { $0 = (free, resident) } }
        func sample() -> ProcessMemory {
            let (free, resident) = figures.withLock { $0 }
            return ProcessMemory(residentBytes: resident * mib, heapInUseBytes: 0, heapFreeBytes: free * mib,
                                 openDescriptors: 0, tlsConnections: 0)
        }
        func trim() {
            trims.add(1, ordering: .relaxed)
            figures.withLock { $0.resident -= released }
        }
        var count: Int { trims.load(ordering: .relaxed) }
    }

    /// A maintenance (threshold 16 MiB) over `heap`, after the startup trim (as the daemon does).
    func started(_ heap: Heap) -> MemoryMaintenance {
        let memory = MemoryMaintenance(interval: .seconds(10), thresholdBytes: 16 * Self.mib, logger: Logger(label: "test"),
                                       sample: heap.sample, release: heap.trim)
        memory.trim()
        return memory
    }

    @Test("What loading the bundle freed is trimmed once, not again at every check")
    func trimsOnceForTheSameFreeMemory() {
        let heap = Heap(free: 18, resident: 58, released: 10)  // after loading a bundle
        let memory = started(heap)
        #expect(heap.count == 1)
        for _ in 0..<3 { memory.check() }
        #expect(heap.count == 1, "nothing new to give back")
    }

    @Test("A storm that keeps the heap's free figure flat but grows the process is trimmed again")
    func stormAfterATrim() {
        let heap = Heap(free: 18, resident: 58, released: 10)
        let memory = started(heap)
        heap.set(free: 60, resident: 120)  // mid-storm
        memory.check()
        #expect(heap.count == 2)
        heap.set(free: 60, resident: 125)  // the released pages reused, then freed again: free unchanged
        memory.check()
        #expect(heap.count == 3)
        memory.check()
        #expect(heap.count == 3)
    }

    @Test("Under the threshold with connections open, no trim; once drained, 1 MiB free is enough")
    func drained() {
        let heap = Heap(free: 18, resident: 58, released: 10)
        let memory = started(heap)
        heap.set(free: 10, resident: 60)  // grew, but only 10 MiB free
        memory.check()
        #expect(heap.count == 1)
        memory.connectionsDrained()
        memory.check()
        #expect(heap.count == 2)
        memory.connectionsDrained()
        memory.check()
        #expect(heap.count == 2, "drained again, but the process has not grown since")
    }
}
