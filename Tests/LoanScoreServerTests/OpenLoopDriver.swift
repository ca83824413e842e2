import Foundation
import LoanScoreProtocol
import LoanScoreTLS
import LoanScoreTestSupport
import NIOCore
import NIOPosix

/// An open-loop load source for overload tests: one TLS connection that sends a prepared
/// SCORE_REQUEST at fixed intended times (whatever the server answers) and records, per
/// request, the outcome and the latency from its intended send time (no coordinated omission).
///
/// Everything — pacing, sending, reading — runs on the connection's one event loop, so the
/// bookkeeping needs no lock.
final class OpenLoopDriver: @unchecked Sendable {  // state confined to `channel.eventLoop`
    /// One answered request.
    struct Outcome: Sendable {
        /// Intended send instant, relative to the start of the phase.
        var intended: Duration
        /// Answer instant, relative to the start of the phase.
        var answered: Duration
        /// nil for SCORE_RESPONSE, else the ERROR code.
        var error: ErrorCode?
        var latency: Duration { answered - intended }
    }

    let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let recorder: Recorder

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, recorder: Recorder) {
        self.channel = channel
        self.group = group
        self.recorder = recorder
    }

    deinit {
        channel.close(promise: nil)
        group.shutdownGracefully { _ in }
    }

    /// Connects, says HELLO and waits for WELCOME.
    static func connect(port: Int, certificates: TestCertificates) async throws -> (OpenLoopDriver, Welcome) {
        let tls = try TLSContext(configuration: .makeClientConfiguration(trustRootsFile: certificates.caCertificate, serverName: "localhost"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = Recorder()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(limits: ProtocolLimits(
                        maximumFramePayload: 64 << 20, maximumUncompressedPayload: 64 << 20))))
                    try channel.pipeline.syncOperations.addHandler(recorder)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let driver = OpenLoopDriver(channel: channel, group: group, recorder: recorder)
        let welcomeFrame = try await driver.request(encode(Hello(clientName: "overload-test"), id: 0), id: 0)
        guard welcomeFrame.type == .welcome else { throw HarnessError("expected WELCOME, got \(welcomeFrame.type)") }
        var payload = welcomeFrame.payload
        return (driver, try Welcome.decode(from: &payload))
    }

    /// A frame ready to send; ``run(frame:rate:duration:)`` rewrites its request id.
    static func encode<Message: ProtocolMessage>(_ message: Message, id: UInt64, compression: FrameEncoder.Compression = .never) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try FrameEncoder(compression: compression, limits: ProtocolLimits(maximumFramePayload: 64 << 20,
            maximumUncompressedPayload: 64 << 20, maximumBatch: 1 << 20)).encode(message, requestID: id, into: &buffer)
        return buffer
    }

    /// Sends one frame and waits for the frame answering `id`.
    func request(_ frame: ByteBuffer, id: UInt64) async throws -> Frame {
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        let recorder = self.recorder
        channel.eventLoop.execute { recorder.waiters[id] = promise }
        try await channel.writeAndFlush(frame)
        return try await promise.futureResult.get()
    }

    /// Sends `frame` (with a fresh request id each time) `rate` times a second for
    /// `duration`, then waits up to `drain` for the answers; returns one outcome per answered
    /// request and how many were never answered.
    func run(frame: ByteBuffer, rate: Double, duration: Duration, drain: Duration = .seconds(30)) async throws
        -> (outcomes: [Outcome], unanswered: Int)
    {
        let loop = channel.eventLoop
        let recorder = self.recorder
        let channel = self.channel
        let interval = Duration.seconds(1) / rate
        let total = Int((Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) * rate)
        let finished = loop.makePromise(of: Void.self)
        loop.execute {
            recorder.begin(expected: total)
            let start = ContinuousClock.now
            recorder.start = start
            // Every millisecond, send what is due by now (late sends keep their intended times).
            loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
                let elapsed = ContinuousClock.now - start
                while recorder.sent < total, interval * recorder.sent <= elapsed {
                    let id = recorder.nextID
                    recorder.nextID += 1
                    recorder.intended[id] = interval * recorder.sent
                    recorder.sent += 1
                    var copy = frame
                    copy.setInteger(id, at: copy.readerIndex + 8)
                    channel.write(copy, promise: nil)
                }
                channel.flush()
                if recorder.sent == total {
                    task.cancel()
                    finished.succeed()
                }
            }
        }
        try await finished.futureResult.get()
        let deadline = ContinuousClock.now + drain
        while ContinuousClock.now < deadline, try await loop.submit({ recorder.intended.count }).get() > 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await loop.submit { (recorder.outcomes, recorder.intended.count) }.get()
    }

    /// Reads frames: completes waiters, or records the outcome of a paced request.
    private final class Recorder: ChannelInboundHandler, @unchecked Sendable {  // confined to its event loop
        typealias InboundIn = Frame
        var waiters: [UInt64: EventLoopPromise<Frame>] = [:]
        var intended: [UInt64: Duration] = [:]
        var outcomes: [Outcome] = []
        var nextID: UInt64 = 1_000
        var sent = 0
        var start = ContinuousClock.now

        func begin(expected: Int) {
            sent = 0
            outcomes.removeAll(keepingCapacity: true)
            outcomes.reserveCapacity(expected)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            if let waiter = waiters.removeValue(forKey: frame.requestID) { return waiter.succeed(frame) }
            guard let intended = intended.removeValue(forKey: frame.requestID) else { return }
            var error: ErrorCode?
            if frame.type == .error {
                var payload = frame.payload
                error = (try? ErrorMessage.decode(from: &payload))?.code ?? .internal
            }
            outcomes.append(Outcome(intended: intended, answered: ContinuousClock.now - start, error: error))
        }

        func channelInactive(context: ChannelHandlerContext) {
            for waiter in waiters.values { waiter.fail(HarnessError("connection closed")) }
            waiters.removeAll()
        }
    }
}

extension Array where Element == Duration {
    /// The value at `percentile` (0...100) of these durations (nearest rank); zero when empty.
    func percentile(_ percentile: Double) -> Duration {
        guard !isEmpty else { return .zero }
        let sorted = self.sorted()
        let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]
    }
}

/// Resident memory of this process in bytes (Linux `/proc/self/statm`), or nil elsewhere.
func residentBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
