public import NIOCore

/// TLS for one NIO channel: ciphertext on the network side, plaintext `ByteBuffer`s on the
/// application side. Server or client according to the ``TLSContext``'s role.
///
/// Add it first in the pipeline, before the protocol codec:
///
/// ```swift
/// // Server (in ServerBootstrap.childChannelInitializer):
/// try channel.pipeline.syncOperations.addHandler(TLSHandler(context: serverContext))
/// // Client (in ClientBootstrap.channelInitializer):
/// try channel.pipeline.syncOperations.addHandler(TLSHandler(context: clientContext, serverName: "scoring.internal"))
/// ```
///
/// The handshake starts when the channel becomes active (or when the handler is added to an
/// active channel). When it finishes, the handler fires ``TLSHandshakeCompleted`` as a user
/// inbound event, then passes decrypted data on as `ByteBuffer`s. Writes made before that are
/// held and sent, in order, once the handshake is done; a write's promise completes when its
/// ciphertext has been written. Closing the channel sends close_notify first; a close_notify
/// from the peer closes the channel.
///
/// Errors are fired as ``TLSError`` through `errorCaught` and close this channel only:
/// a failed handshake (with the code telling why), ``TLSError/Code-swift.struct/handshakeTimeout``
/// when the handshake takes longer than ``TLSConfiguration/handshakeTimeout``, and
/// ``TLSError/Code-swift.struct/closedDuringHandshake`` when the peer goes away mid-handshake.
///
/// - Important: A handler belongs to one channel and runs on its event loop. It is not `Sendable`.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        /// Waiting for the channel to become active.
        case idle
        case handshaking
        /// Handshake done; application data flows.
        case active
        /// We sent close_notify or are closing; nothing more is read or written.
        case closing
        /// Closed, failed or removed; the SSL object is gone.
        case closed
    }

    private var state: State = .idle
    /// The only owner of the SSL object; set to nil (freeing it) when the channel goes inactive,
    /// the handler is removed, or the connection fails.
    private var connection: TLSConnection?
    private let handshakeTimeout: TimeAmount
    private var timeoutTask: Scheduled<Void>?
    /// Application writes not yet encrypted, oldest first.
    private var pendingWrites = CircularBuffer<(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)>()
    /// How many of `pendingWrites` (from the front) have been flushed by the application.
    private var flushedWriteCount = 0
    /// The plaintext buffer the last read left empty (every read event ends with a read that
    /// finds nothing), kept for the next read event instead of allocating another.
    private var spareReadBuffer: ByteBuffer?

    /// A handler for one connection.
    ///
    /// - Parameters:
    ///   - context: The loaded configuration; its role makes this a server or a client.
    ///   - serverName: For a client, overrides ``TLSConfiguration/serverName`` for this
    ///     connection (SNI and the name the certificate must carry). Ignored by a server.
    /// - Throws: ``TLSError`` when OpenSSL cannot make the connection object or the server name
    ///   is not usable.
    public init(context: TLSContext, serverName: String? = nil) throws {
        self.connection = try TLSConnection(
            context: context, serverName: serverName ?? context.configuration.serverName
        )
        self.handshakeTimeout = context.configuration.handshakeTimeout
    }

    /// Whether this handler still owns its SSL object (for tests).
    var ownsConnection: Bool { connection != nil }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        state = .closed
        cancelTimeout()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        connection = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let wasHandshaking = state == .handshaking
        state = .closed
        cancelTimeout()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        connection = nil
        if wasHandshaking {
            context.fireErrorCaught(
                TLSError(.closedDuringHandshake, "the connection closed before the TLS handshake finished")
            )
        }
        context.fireChannelInactive()
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var ciphertext = unwrapInboundIn(data)
        guard let connection, state != .closed, state != .closing else { return }
        connection.feed(&ciphertext)
        switch state {
        case .idle: startHandshake(context: context)
        case .handshaking: advanceHandshake(context: context)
        case .active: readApplicationData(context: context)
        case .closing, .closed: break
        }
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        case .idle, .handshaking, .active:
            pendingWrites.append((unwrapOutboundIn(data), promise))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        flushedWriteCount = pendingWrites.count
        if state == .active { encryptFlushedWrites(context: context) }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch state {
        case .active:
            state = .closing
            connection?.shutdown()
            flushCiphertext(context: context)
        case .idle, .handshaking:
            state = .closing
            cancelTimeout()
        case .closing, .closed:
            break
        }
        failPendingWrites(ChannelError.ioOnClosedChannel)
        context.close(mode: mode, promise: promise)
    }

    // MARK: - Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle, connection != nil else { return }
        state = .handshaking
        let timeout = handshakeTimeout
        // Strong captures are fine: the task is cancelled when the handshake ends, fails, or
        // the handler goes away, and it runs on this channel's event loop.
        timeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard self.state == .handshaking || self.state == .idle else { return }
            self.fail(
                context: context,
                error: TLSError(.handshakeTimeout, "the TLS handshake did not finish within \(timeout)")
            )
        }
        advanceHandshake(context: context)
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        switch connection.doHandshake() {
        case .complete:
            state = .active
            cancelTimeout()
            flushCiphertext(context: context)
            let event = TLSHandshakeCompleted(
                alpn: connection.negotiatedApplicationProtocol,
                peerSubject: connection.peerSubject,
                version: connection.protocolVersion
            )
            context.fireUserInboundEventTriggered(event)
            guard state == .active else { return }  // the event's receiver may have closed
            encryptFlushedWrites(context: context)
            // Application data may have arrived together with the handshake's last flight.
            readApplicationData(context: context)
        case .incomplete:
            flushCiphertext(context: context)
        case .closed:
            fail(context: context, error: TLSError(.closedDuringHandshake, "the peer sent close_notify during the handshake"))
        case .failed(let error):
            fail(context: context, error: error)
        }
    }

    // MARK: - Application data

    /// Decrypts everything OpenSSL can decrypt from the bytes fed so far and passes it on.
    private func readApplicationData(context: ChannelHandlerContext) {
        guard let connection else { return }
        reading: while state == .active {
            var plaintext = spareReadBuffer ?? context.channel.allocator.buffer(capacity: 16_384)
            spareReadBuffer = nil
            switch connection.read(into: &plaintext) {
            case .complete:
                context.fireChannelRead(wrapInboundOut(Self.rightSized(plaintext, allocator: context.channel.allocator)))
            case .incomplete:
                if plaintext.readableBytes == 0 { spareReadBuffer = plaintext }
                break reading
            case .closed:
                // close_notify from the peer: answer it and close.
                state = .closing
                connection.shutdown()
                flushCiphertext(context: context)
                failPendingWrites(ChannelError.outputClosed)
                context.close(promise: nil)
                return
            case .failed(let error):
                fail(context: context, error: error)
                return
            }
        }
        guard state == .active else { return }
        // Reading can produce output (a KeyUpdate reply) and unblock stalled writes.
        flushCiphertext(context: context)
        if flushedWriteCount > 0 { encryptFlushedWrites(context: context) }
    }

    /// Encrypts the flushed writes in order and sends the ciphertext in one write.
    private func encryptFlushedWrites(context: ChannelHandlerContext) {
        guard let connection else { return }
        var completed: [EventLoopPromise<Void>] = []
        writing: while flushedWriteCount > 0, var (buffer, promise) = pendingWrites.first {
            while buffer.readableBytes > 0 {
                switch connection.write(&buffer) {
                case .complete:
                    continue
                case .incomplete:
                    // OpenSSL needs to read first (post-handshake message); keep the rest and
                    // retry after the next read.
                    pendingWrites[pendingWrites.startIndex] = (buffer, promise)
                    break writing
                case .closed:
                    flushCiphertext(context: context, completing: completed)
                    fail(context: context, error: TLSError(.connectionFailed, "write: the peer closed the TLS session"))
                    return
                case .failed(let error):
                    flushCiphertext(context: context, completing: completed)
                    fail(context: context, error: error)
                    return
                }
            }
            _ = pendingWrites.removeFirst()
            flushedWriteCount -= 1
            if let promise { completed.append(promise) }
            promise = nil
        }
        flushCiphertext(context: context, completing: completed)
    }

    // MARK: - Helpers

    /// `buffer` itself, or a copy of its bytes in a buffer of their size when it uses less than
    /// a quarter of its 16 KiB: the frame decoder keeps the first buffer of a frame until the
    /// frame is complete, so a client that sends a few bytes and stalls would otherwise pin
    /// 16 KiB per connection.
    static func rightSized(_ buffer: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard buffer.readableBytes < buffer.capacity / 4 else { return buffer }
        var copy = allocator.buffer(capacity: buffer.readableBytes)
        copy.writeImmutableBuffer(buffer)
        return copy
    }

    /// Writes and flushes all ciphertext OpenSSL has produced; `promises` complete with it.
    private func flushCiphertext(context: ChannelHandlerContext, completing promises: [EventLoopPromise<Void>] = []) {
        guard let connection, let ciphertext = connection.drainOutput(allocator: context.channel.allocator) else {
            for promise in promises { promise.succeed() }
            return
        }
        var writePromise: EventLoopPromise<Void>? = nil
        if !promises.isEmpty {
            let promise = context.eventLoop.makePromise(of: Void.self)
            for waiting in promises { promise.futureResult.cascade(to: waiting) }
            writePromise = promise
        }
        context.writeAndFlush(wrapOutboundOut(ciphertext), promise: writePromise)
    }

    /// Sends any alert, drops the SSL object, reports `error` and closes the channel.
    private func fail(context: ChannelHandlerContext, error: TLSError) {
        guard state != .closed else { return }
        flushCiphertext(context: context)  // the alert telling the peer why
        state = .closed
        cancelTimeout()
        failPendingWrites(error)
        connection = nil
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites.removeAll()
        flushedWriteCount = 0
        for write in writes { write.promise?.fail(error) }
    }

    private func cancelTimeout() {
        timeoutTask?.cancel()
        timeoutTask = nil
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
