import NIOCore

/// Tracks bytes that have arrived but do not yet form a whole frame, so a client that starts
/// a frame and then trickles or stops (slowloris) can be cut off after the frame deadline.
///
/// Shared by ``FrameProgressHandler`` (before the frame decoder: counts bytes in) and
/// ``ConnectionHandler`` (after it: subtracts each whole frame). Both run on the channel's
/// event loop, so no synchronisation is needed.
final class FrameProgress {
    /// Bytes received and not yet part of a decoded frame.
    private(set) var pending = 0
    /// When the oldest pending byte arrived; nil when nothing is pending.
    private(set) var startedAt: NIODeadline?

    func received(_ bytes: Int) {
        guard bytes > 0 else { return }
        if pending == 0 { startedAt = .now() }
        pending += bytes
    }

    /// A whole frame of `bytes` (header and payload as they travelled) was decoded.
    func consumed(_ bytes: Int) {
        pending = max(0, pending - bytes)
        // The next frame, if its first bytes are already here, starts its deadline now.
        startedAt = pending == 0 ? nil : .now()
    }
}

/// Counts ciphertext-free (post-TLS) bytes on their way to the frame decoder.
final class FrameProgressHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let progress: FrameProgress

    init(progress: FrameProgress) {
        self.progress = progress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        progress.received(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension FrameProgressHandler: Sendable {}
