public import NIOCore

/// What a server needs to know about a SCORE_REQUEST before it spends any work decoding it:
/// the application count (PROTOCOL.md §5.4: at payload offset 32, after the schema hash).
///
/// Reading it is O(1) and allocates nothing, so admission (in-flight limits, queued
/// applications, queue delay) is decided before the columns are decoded; the full decode
/// (``RequestColumns/decode(from:schema:maximumBatch:)``) still checks everything, the count
/// included.
public struct ScoreRequestPrefix: Sendable, Equatable {
    /// Applications the request declares (not yet checked against the maximum batch).
    public var count: Int
    /// The deadline (time budget in microseconds) when the frame carries one.
    public var deadline: UInt32?
    /// Bytes before the schema hash: 4 with a deadline, else 0 (the columns' decoder starts there).
    public var columnsOffset: Int { deadline == nil ? 0 : 4 }

    /// Reads the prefix of a (decompressed) SCORE_REQUEST payload without moving its reader
    /// index; nil when the payload is too short to hold the schema hash and the count (the
    /// full decode then reports the precise error).
    ///   - flags: the frame's header flags (``FrameFlags/deadline`` puts a u32 before the hash).
    public init?(peeking payload: ByteBuffer, flags: FrameFlags = []) {
        var offset = payload.readerIndex
        if flags.contains(.deadline) {
            guard let deadline = payload.getInteger(at: offset, as: UInt32.self) else { return nil }
            self.deadline = deadline
            offset += 4
        }
        guard let count = payload.getInteger(at: offset + 32, as: UInt32.self) else { return nil }
        self.count = Int(count)
    }
}
