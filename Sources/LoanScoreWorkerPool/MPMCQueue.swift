import Atomics

/// A bounded, lock-free, multi-producer multi-consumer FIFO queue.
///
/// This is Dmitry Vyukov's bounded MPMC array queue ("Bounded MPMC queue", 1024cores.net,
/// 2010): a ring of cells, each with its own sequence number, and two positions (enqueue and
/// dequeue) that producers and consumers claim with a compare-and-swap. A cell's sequence
/// number says whose turn it is:
///
/// - `sequence == position`: the cell is empty and the producer that claims `position` may fill it;
/// - `sequence == position + 1`: the cell is full and the consumer that claims `position` may empty it;
/// - the consumer then sets `sequence = position + capacity`, handing the cell to the producer
///   of the next lap.
///
/// Neither operation blocks or allocates: a full queue makes ``tryEnqueue(_:)`` return `false`,
/// an empty one makes ``tryDequeue()`` return `nil`. Under contention an operation retries its
/// CAS, so it is lock-free (some thread always makes progress), not wait-free.
///
/// The queue is FIFO in the order in which producers claim positions. ``tryEnqueue(_:)`` may
/// report "full" while a consumer is still moving the element out of the oldest cell (and
/// ``tryDequeue()`` "empty" while a producer is still writing the newest), which is the
/// algorithm's documented behaviour and harmless for backpressure.
///
/// - Note: Positions are `Int` (64-bit) and wrap with `&+`, so a queue can pass
///   2^63 elements before a position repeats.
public final class MPMCQueue<Element> {
    /// The number of cells, a power of two.
    public let capacity: Int
    private let mask: Int

    /// One sequence number per cell (atomic).
    private let sequences: UnsafeMutablePointer<Int.AtomicRepresentation>
    /// One element slot per cell; initialised exactly when its cell is full.
    private let elements: UnsafeMutablePointer<Element>

    // The two positions are separate heap objects, so producers and consumers do not
    // share a cache line through them.
    private let enqueuePosition = ManagedAtomic<Int>(0)
    private let dequeuePosition = ManagedAtomic<Int>(0)

    /// Creates an empty queue.
    ///
    /// - Parameter capacity: The minimum number of elements the queue holds; rounded up to a
    ///   power of two (and to at least 2, which the algorithm needs). Must be at least 1.
    /// - Complexity: O(capacity) to allocate and number the cells.
    public init(capacity requested: Int) {
        precondition(requested >= 1, "MPMCQueue capacity must be at least 1 (got \(requested))")
        precondition(requested <= 1 << 40, "MPMCQueue capacity \(requested) is unreasonably large")
        let capacity = max(2, Self.powerOfTwo(atLeast: requested))
        self.capacity = capacity
        self.mask = capacity - 1
        sequences = .allocate(capacity: capacity)
        for index in 0..<capacity {
            // Cell i starts empty, waiting for the producer of position i.
            (sequences + index).initialize(to: Int.AtomicRepresentation(index))
        }
        elements = .allocate(capacity: capacity)
    }

    /// The smallest power of two that is `>= value` (for `value >= 1`).
    static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }

    /// The atomic sequence number of the cell at `index` (`index` is already masked).
    @inline(__always)
    private func sequence(_ index: Int) -> UnsafeAtomic<Int> {
        // The pointer stays valid for the queue's lifetime (freed only in deinit).
        UnsafeAtomic<Int>(at: sequences + index)
    }

    /// Appends an element unless the queue is full.
    ///
    /// - Returns: `true` if the element was enqueued; `false` if the queue was full, in which
    ///   case `element` is dropped (released) and the queue is unchanged.
    /// - Complexity: O(1) amortised; never blocks.
    @discardableResult
    public func tryEnqueue(_ element: consuming Element) -> Bool {
        // Relaxed: the position is only a hint for which cell to look at; the cell's
        // sequence number (acquire below) is what synchronises with the consumer.
        var position = enqueuePosition.load(ordering: .relaxed)
        while true {
            let index = position & mask
            // Acquiring: if the cell is free, this pairs with the consumer's releasing store
            // of `position` into it, so the consumer has finished moving the old element out
            // before we overwrite the slot.
            let sequence = self.sequence(index).load(ordering: .acquiring)
            let difference = sequence &- position
            if difference == 0 {
                // The cell is free for this lap: claim the position. Relaxed is enough; the
                // CAS only arbitrates between producers, the cell's sequence does the publishing.
                let (exchanged, current) = enqueuePosition.weakCompareExchange(
                    expected: position, desired: position &+ 1,
                    successOrdering: .relaxed, failureOrdering: .relaxed)
                if exchanged {
                    // We own the cell until we publish it. The slot is uninitialised here.
                    (elements + index).initialize(to: element)
                    // Releasing: publishes the element to the consumer that acquires
                    // `position + 1` from this cell.
                    self.sequence(index).store(position &+ 1, ordering: .releasing)
                    return true
                }
                position = current
            } else if difference < 0 {
                // The cell still holds the element from the previous lap: full.
                return false
            } else {
                // Another producer took this position; reload and try the next.
                position = enqueuePosition.load(ordering: .relaxed)
            }
        }
    }

    /// Removes and returns the oldest element, or `nil` if the queue is empty.
    ///
    /// - Complexity: O(1) amortised; never blocks.
    public func tryDequeue() -> Element? {
        // Relaxed: a hint, as in `tryEnqueue`.
        var position = dequeuePosition.load(ordering: .relaxed)
        while true {
            let index = position & mask
            // Acquiring: pairs with the producer's releasing store of `position + 1`, so the
            // element it wrote is visible before we move it out.
            let sequence = self.sequence(index).load(ordering: .acquiring)
            let difference = sequence &- (position &+ 1)
            if difference == 0 {
                let (exchanged, current) = dequeuePosition.weakCompareExchange(
                    expected: position, desired: position &+ 1,
                    successOrdering: .relaxed, failureOrdering: .relaxed)
                if exchanged {
                    // We own the full cell; moving out leaves the slot uninitialised.
                    let element = (elements + index).move()
                    // Releasing: hands the empty cell to the producer of the next lap, after
                    // our move-out.
                    self.sequence(index).store(position &+ mask &+ 1, ordering: .releasing)
                    return element
                }
                position = current
            } else if difference < 0 {
                // The cell has not been filled for this lap: empty.
                return nil
            } else {
                position = dequeuePosition.load(ordering: .relaxed)
            }
        }
    }

    /// The approximate number of elements in the queue, between 0 and ``capacity``.
    ///
    /// Exact when no other thread is using the queue; under concurrency a snapshot that
    /// counts claimed positions, so it may include elements still being written or removed.
    /// - Complexity: O(1).
    public var count: Int {
        // Relaxed: a gauge. Load the dequeue position first so that the difference does not
        // go negative when both move between the loads (it may still, hence the clamp).
        let head = dequeuePosition.load(ordering: .relaxed)
        let tail = enqueuePosition.load(ordering: .relaxed)
        return min(max(tail &- head, 0), capacity)
    }

    /// Whether ``count`` is zero (approximate under concurrency, like ``count``).
    public var isEmpty: Bool { count == 0 }

    deinit {
        // No other thread can reach the queue now, so every claimed position has been
        // completed: exactly the cells in dequeue..<enqueue are full. Release their elements
        // once, then free both buffers.
        let head = dequeuePosition.load(ordering: .relaxed)
        let tail = enqueuePosition.load(ordering: .relaxed)
        var position = head
        while position != tail {
            (elements + (position & mask)).deinitialize(count: 1)
            position &+= 1
        }
        elements.deallocate()
        sequences.deinitialize(count: capacity)
        sequences.deallocate()
    }
}

// All shared state is reached through atomics; element slots are handed between threads by
// the acquire/release protocol on the sequence numbers, so only Sendable elements may cross.
extension MPMCQueue: @unchecked Sendable where Element: Sendable {}
