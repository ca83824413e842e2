/// One assigned partition's progress: the offsets consumed and not yet done, and the offset
/// that may be committed (every offset below it is done: its decision or dead letter was
/// acknowledged by the broker).
///
/// Offsets are consumed in increasing order; they are done in any order (batches and dead
/// letters finish independently). ``committable`` only moves past a contiguous run of done
/// offsets, so a crash re-consumes at most what was not done, never skips it.
struct PartitionProgress {
    /// Which assignment this is: work of an earlier assignment of the same partition (revoked
    /// and assigned back) is not counted here.
    let generation: Int
    /// Consumed offsets in order, from ``head`` on not yet done in order.
    private var offsets: [Int64] = []
    private var head = 0
    /// Offsets done out of order, waiting for the ones before them.
    private var doneEarly: Set<Int64> = []
    /// The next offset to consume once everything consumed is done (Kafka's committed offset).
    private(set) var committable: Int64?
    /// The last offset committed (or nil: none by this assignment).
    var committed: Int64?
    /// The last offset consumed, for the lag.
    private(set) var lastConsumed: Int64?

    init(generation: Int) {
        self.generation = generation
    }

    /// Offsets consumed and not yet done.
    var outstanding: Int { offsets.count - head }

    /// Records a consumed offset. - Complexity: amortised O(1).
    mutating func consumed(_ offset: Int64) {
        offsets.append(offset)
        lastConsumed = offset
    }

    /// Records that `offset`'s answer was acknowledged. - Complexity: amortised O(1).
    mutating func done(_ offset: Int64) {
        doneEarly.insert(offset)
        while head < offsets.count, doneEarly.remove(offsets[head]) != nil {
            committable = offsets[head] + 1
            head += 1
        }
        if head > 4096, head * 2 > offsets.count {
            offsets.removeFirst(head)
            head = 0
        }
    }

    /// The offset to commit now, when it moved since the last commit.
    var pendingCommit: Int64? {
        guard let committable, committable != committed else { return nil }
        return committable
    }
}
