public import Foundation

/// When appended records are forced to stable storage.
public enum FsyncPolicy: Sendable, Equatable {
    /// Write and fsync each append on the caller's thread before completing it.
    case always
    /// A writer thread writes every pending append with one write(2), fsyncs once, then
    /// completes them all; appends that arrive while it syncs form the next batch, so batches
    /// grow with the load without a deliberate wait (PostgreSQL's group commit with
    /// `commit_delay = 0`). With `maxDelay` > 0 the writer also waits up to that long (or
    /// until no append has arrived for a quarter of it) before writing, trading latency for
    /// fewer fsyncs on disks where an fsync is slow. The default; `maxDelay` defaults to 0.
    case groupCommit(maxDelay: Duration = .zero)
    /// Write without fsync: records survive a crash of the process but not of the machine.
    /// For tests and benchmarks only.
    case never
}

/// One commit of the log: what it wrote and how long writing and syncing took, for metrics
/// (``AuditLog/Configuration/onCommit``).
public struct AuditCommit: Sendable, Equatable {
    /// Appends written together (more than one when group commit batched them).
    public var appends: Int
    /// Records written.
    public var records: Int
    /// Bytes written (frames included).
    public var bytes: Int
    /// The write(2) calls and, unless the policy is ``FsyncPolicy/never``, the fsync: the time
    /// the appends' completions waited for once the commit began.
    public var duration: Duration
    /// Whether the commit succeeded (a failed one fails its appends and the log).
    public var succeeded: Bool

    public init(appends: Int, records: Int, bytes: Int, duration: Duration, succeeded: Bool) {
        self.appends = appends
        self.records = records
        self.bytes = bytes
        self.duration = duration
        self.succeeded = succeeded
    }
}

/// What opening a log found and repaired, for the daemon to log.
public struct AuditRecovery: Sendable, Equatable, CustomStringConvertible {
    /// The newest segment, whose torn tail was cut.
    public var segment: String
    /// The byte offset where the torn tail began; the segment now ends there.
    public var offset: Int
    /// Bytes removed.
    public var bytesRemoved: Int
    /// Why the tail was judged torn.
    public var reason: String

    public var description: String {
        "audit log: cut a torn tail of \(bytesRemoved) bytes at byte \(offset) of \(segment): \(reason)"
    }
}

/// The append-only, checksummed decision audit log (see ``AuditSegmentFormat`` for the files).
///
/// Every ``append(_:completion:)`` gets the next sequence numbers, in call order, gap-free, and
/// completes only once its records are durable under the ``FsyncPolicy``: the server answers
/// an application only after its record's completion, so every decision sent is in the log.
///
/// Opening a folder continues after its last valid record. A torn tail of the newest segment
/// (an incomplete last write) is cut and reported in ``recovery``; other damage to the newest
/// segment refuses the open (``AuditError/Code/corrupt``), since appending after it would
/// hide it — run ``AuditReader/verify()`` and move the segment aside.
///
/// Call ``close()`` before dropping the log: the group-commit writer thread keeps it alive.
public final class AuditLog: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `condition`; `segment` and `chunk` are used by one
    // thread at a time (the writer thread under group commit, else callers holding `condition`).

    public struct Configuration: Sendable {
        /// The folder of segment files (created if missing).
        public var directory: URL
        /// Durability; default ``FsyncPolicy/groupCommit(maxDelay:)`` without a deliberate delay.
        public var fsync: FsyncPolicy
        /// A segment is closed and a new one started before it would grow past this many bytes
        /// (a single larger record still gets a segment of its own). Default 64 MiB.
        public var maxSegmentBytes: Int
        /// Called after every commit, before its appends complete: on the writer thread under
        /// group commit, else on the appending thread with the log's lock held. Keep it short,
        /// and do not call the log from it (under `.always` and `.never` its lock is held).
        /// Default nil.
        public var onCommit: (@Sendable (AuditCommit) -> Void)?

        public init(
            directory: URL, fsync: FsyncPolicy = .groupCommit(), maxSegmentBytes: Int = 64 << 20,
            onCommit: (@Sendable (AuditCommit) -> Void)? = nil
        ) {
            self.directory = directory
            self.fsync = fsync
            self.maxSegmentBytes = maxSegmentBytes
            self.onCommit = onCommit
        }
    }

    /// One append's frames, encoded back to back into one buffer.
    private struct Frames {
        var bytes: [UInt8] = []
        /// The first frame's sequence number (the others follow, one each).
        var firstSequence: UInt64
        /// Where each frame ends in ``bytes``.
        var ends: [Int] = []
    }

    /// A batch waiting for the group-commit writer.
    private struct Pending {
        var frames: Frames
        var completion: @Sendable (Result<Void, AuditError>) -> Void
    }

    private enum State {
        case open
        case closing
        case closed
        case failed(AuditError)
    }

    public let configuration: Configuration
    /// The torn tail cut when the log was opened, if any.
    public let recovery: AuditRecovery?

    private let condition = NSCondition()
    private var state = State.open
    private var nextSequence: UInt64
    private var pending: [Pending] = []
    private var pendingBytes = 0
    private var commits = 0
    private var segment: SegmentFile
    /// What one ``writeBatch(_:sync:)`` writes, reused.
    private var chunk: [UInt8] = []
    private let writerFinished = DispatchSemaphore(value: 0)

    /// Opens (or creates) the log in `configuration.directory`.
    ///
    /// - Complexity: Reads and checks the newest segment (O(its size)); older segments are
    ///   not read.
    /// - Throws: ``AuditError``: `.io` if the folder or segment cannot be created, opened or
    ///   cut; `.corrupt` if the newest segment is damaged other than at its tail.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        let directory = configuration.directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw AuditError(.io, "\(directory.path): cannot create the audit folder: \(error.localizedDescription)")
        }
        let segments = try AuditSegmentFormat.segments(in: directory)
        if let newest = segments.last {
            let bytes: Data
            do {
                bytes = try Data(contentsOf: newest.url)
            } catch {
                throw AuditError(.io, "\(newest.url.path): cannot read the newest segment: \(error.localizedDescription)")
            }
            let scan = SegmentScan(bytes: bytes, isNewest: true)
            let name = newest.url.lastPathComponent
            let advice = "run 'loanscore audit verify' and move the damaged segment aside to continue"
            if let damage = scan.damage {
                throw AuditError(.corrupt, "\(name): damaged at byte \(damage.offset): \(damage.reason); \(advice)")
            }
            if let offset = scan.checksumFailures.first {
                throw AuditError(.corrupt, "\(name): checksum mismatch in the frame at byte \(offset); \(advice)")
            }
            if let bad = scan.undecodable.first {
                throw AuditError(.corrupt, "\(name): unreadable record at byte \(bad.offset): \(bad.reason); \(advice)")
            }
            if let torn = scan.tornTail {
                recovery = AuditRecovery(segment: name, offset: torn.offset, bytesRemoved: bytes.count - torn.offset, reason: torn.reason)
                segment = try SegmentFile(url: newest.url, firstSequence: newest.firstSequence, truncateTo: torn.offset)
            } else {
                recovery = nil
                segment = try SegmentFile(url: newest.url, firstSequence: newest.firstSequence)
            }
            nextSequence = (scan.records.last?.record.sequence).map { $0 + 1 } ?? newest.firstSequence
        } else {
            recovery = nil
            nextSequence = 1
            segment = try SegmentFile(url: directory.appendingPathComponent(AuditSegmentFormat.segmentName(firstSequence: 1)), firstSequence: 1)
            try SegmentFile.syncDirectory(directory)
        }
        if case .groupCommit(let maxDelay) = configuration.fsync {
            let thread = Thread { [self] in
                runWriter(maxDelay: maxDelay)
                writerFinished.signal()
            }
            thread.name = "audit-writer"
            thread.start()
        }
    }

    /// Convenience for `init(configuration: Configuration(directory:fsync:maxSegmentBytes:onCommit:))`.
    public convenience init(
        directory: URL, fsync: FsyncPolicy = .groupCommit(), maxSegmentBytes: Int = 64 << 20,
        onCommit: (@Sendable (AuditCommit) -> Void)? = nil
    ) throws {
        try self.init(configuration: Configuration(directory: directory, fsync: fsync, maxSegmentBytes: maxSegmentBytes, onCommit: onCommit))
    }

    /// The sequence number the next appended record will get.
    public var nextSequenceNumber: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return nextSequence
    }

    /// Batches written (and, unless ``FsyncPolicy/never``, fsynced) so far: a gauge of how
    /// well group commit is batching (appends per commit).
    public var commitCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return commits
    }

    /// Appends records, assigning each the next sequence number in order, and calls
    /// `completion` once they are durable under the policy.
    ///
    /// The records' own ``AuditRecord/sequence`` values are replaced. Under
    /// ``FsyncPolicy/groupCommit(maxDelay:)`` the completion runs on the writer thread (keep it
    /// short; it may append again); otherwise on the calling thread before this returns.
    /// An empty array completes at once with success.
    ///
    /// - Parameter completion: `.success` once durable; `.failure` with ``AuditError``:
    ///   `.encoding` (nothing was appended and no sequence number used), `.closed` (after
    ///   ``close()`` or an earlier I/O failure), `.io` (write or fsync failed; the log then
    ///   refuses further appends, since after a failed fsync the kernel may have dropped data).
    /// - Complexity: O(n) encoding under the log's lock; under `.always` also a write and an
    ///   fsync on the caller's thread.
    public func append(_ records: [AuditRecord], completion: @escaping @Sendable (Result<Void, AuditError>) -> Void) {
        condition.lock()
        switch state {
        case .open: ()
        case .closing, .closed:
            condition.unlock()
            return completion(.failure(AuditError(.closed, "the audit log is closed")))
        case .failed(let error):
            condition.unlock()
            return completion(.failure(AuditError(.closed, "the audit log failed earlier: \(error)")))
        }
        guard !records.isEmpty else {
            condition.unlock()
            return completion(.success(()))
        }
        var frames = Frames(firstSequence: nextSequence)
        frames.bytes.reserveCapacity(records.count * 400)
        frames.ends.reserveCapacity(records.count)
        do {
            var time = AuditRecord.TimeText()  // one request's records share their time: format it once
            for (index, record) in records.enumerated() {
                try AuditSegmentFormat.appendFrame(for: record, sequence: nextSequence + UInt64(index), time: &time, to: &frames.bytes)
                frames.ends.append(frames.bytes.count)
            }
        } catch {
            condition.unlock()
            return completion(.failure(error as? AuditError ?? AuditError(.encoding, "\(error)")))
        }
        nextSequence += UInt64(records.count)

        switch configuration.fsync {
        case .groupCommit:
            pendingBytes += frames.bytes.count
            pending.append(Pending(frames: frames, completion: completion))
            condition.broadcast()
            condition.unlock()
        case .always, .never:
            // Written under the lock, so batches reach the file in sequence order.
            let result = commit([frames], sync: configuration.fsync == .always)
            commits += 1
            if case .failure(let error) = result { state = .failed(error) }
            condition.unlock()
            completion(result)
        }
    }

    /// Appends records and returns once they are durable; see ``append(_:completion:)``.
    /// - Throws: ``AuditError``.
    public func append(_ records: [AuditRecord]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            append(records) { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    /// Completes pending appends, fsyncs and closes the segment, and stops the writer thread.
    /// Later appends fail with `.closed`. Idempotent.
    ///
    /// - Throws: ``AuditError`` (`.io`) if the final fsync fails.
    public func close() throws {
        condition.lock()
        switch state {
        case .closing, .closed:
            condition.unlock()
            return
        case .open, .failed:
            state = .closing
            condition.broadcast()
        }
        condition.unlock()
        if case .groupCommit = configuration.fsync { writerFinished.wait() }
        condition.lock()
        defer {
            state = .closed
            condition.unlock()
        }
        defer { segment.closeFile() }
        try segment.sync()
    }

    // MARK: - Writing

    /// ``writeBatch(_:sync:)``, timed and reported to ``Configuration/onCommit``.
    private func commit(_ batches: [Frames], sync: Bool) -> Result<Void, AuditError> {
        guard let onCommit = configuration.onCommit else { return writeBatch(batches, sync: sync) }
        let started = ContinuousClock.now
        let result = writeBatch(batches, sync: sync)
        let duration = ContinuousClock.now - started
        var succeeded = true
        if case .failure = result { succeeded = false }
        onCommit(AuditCommit(
            appends: batches.count, records: batches.reduce(0) { $0 + $1.ends.count },
            bytes: batches.reduce(0) { $0 + $1.bytes.count }, duration: duration, succeeded: succeeded))
        return result
    }

    /// Writes appends' frames with one write(2) per segment they reach (rotating segments as
    /// they fill) and fsyncs if asked. Called with `condition` held, or on the writer thread, never both at once
    /// (which is also what makes ``chunk`` safe to reuse).
    private func writeBatch(_ batches: [Frames], sync: Bool) -> Result<Void, AuditError> {
        defer { if chunk.capacity > 16 << 20 { chunk = [] } }  // keep no outsized buffer after a burst
        do {
            chunk.removeAll(keepingCapacity: true)
            for frames in batches {
                if segment.size + chunk.count + frames.bytes.count <= configuration.maxSegmentBytes {
                    chunk += frames.bytes  // no frame of this append starts a segment
                    continue
                }
                var start = 0
                for (index, end) in frames.ends.enumerated() {
                    let size = segment.size + chunk.count
                    if size > 0 && size + (end - start) > configuration.maxSegmentBytes {
                        try segment.append(chunk)
                        chunk.removeAll(keepingCapacity: true)
                        try rotate(firstSequence: frames.firstSequence + UInt64(index), sync: sync)
                    }
                    chunk += frames.bytes[start..<end]
                    start = end
                }
            }
            try segment.append(chunk)
            if sync { try segment.sync() }
            return .success(())
        } catch {
            return .failure(error as? AuditError ?? AuditError(.io, "\(error)"))
        }
    }

    /// Seals the current segment and starts `audit-<firstSequence>.log`.
    private func rotate(firstSequence: UInt64, sync: Bool) throws {
        // The old segment is made durable whole before the new one exists, so only the
        // newest segment can ever have a torn tail.
        if sync { try segment.sync() }
        segment.closeFile()
        let url = configuration.directory.appendingPathComponent(AuditSegmentFormat.segmentName(firstSequence: firstSequence))
        segment = try SegmentFile(url: url, firstSequence: firstSequence)
        if sync { try SegmentFile.syncDirectory(configuration.directory) }
    }

    /// The group-commit writer: gather, write once, fsync once, complete; until closed.
    private func runWriter(maxDelay: Duration) {
        let idleWindow = max(maxDelay / 4, .microseconds(50))
        condition.lock()
        while true {
            while pending.isEmpty, case .open = state { condition.wait() }
            if pending.isEmpty { break }  // closing, nothing left
            // Gather: keep waiting while appends keep arriving, up to maxDelay in all (no wait
            // at all when maxDelay is zero: the batch is whatever came during the last fsync).
            let start = ContinuousClock.now
            var seen = pending.count
            while maxDelay > .zero, case .open = state, pendingBytes < 1 << 20 {
                let left = maxDelay - (ContinuousClock.now - start)
                if left <= .zero { break }
                let slice = min(left, idleWindow)
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(slice.components.attoseconds) / 1e18 + Double(slice.components.seconds)))
                if pending.count == seen { break }  // idle: nobody appended during the slice
                seen = pending.count
            }
            let batch = pending
            pending.removeAll()
            pendingBytes = 0
            let failedEarlier: AuditError?
            if case .failed(let error) = state { failedEarlier = error } else { failedEarlier = nil }
            condition.unlock()

            let result: Result<Void, AuditError>
            if let failedEarlier {
                result = .failure(AuditError(.closed, "the audit log failed earlier: \(failedEarlier)"))
            } else {
                result = commit(batch.map(\.frames), sync: true)
            }
            for entry in batch { entry.completion(result) }

            condition.lock()
            commits += 1
            if case .failure(let error) = result, case .open = state { state = .failed(error) }
        }
        condition.unlock()
    }
}
