import LoanScoreProtocol

/// The policy of one connection, apart from its I/O: the handshake, the requests in flight,
/// whether a SCORE_REQUEST may go on to admission (before its columns are decoded), GOODBYE
/// and draining, and pausing reads while responses back up. Each event returns what to do,
/// and ``ConnectionHandler`` does it (the swift-nio habit: a value type that decides, a
/// handler that acts), so the policy is tested without a channel.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// Connected; the first frame must be HELLO.
        case awaitingHello
        /// WELCOME sent: requests are accepted.
        case ready
        /// GOODBYE received or sent: requests in flight are answered, new ones refused, and the
        /// connection closes once none is left.
        case draining
        /// Closing or closed: nothing more is read or answered.
        case closed
    }

    private(set) var state = State.awaitingHello
    /// SCORE_REQUESTs admitted and not yet answered.
    private(set) var inFlight = 0
    /// A read the channel asked for while it was not writable (done when it is again).
    private var readPending = false
    /// Most requests in flight on this connection (`limits.max_in_flight_per_connection`).
    let maximumInFlight: Int

    init(maximumInFlight: Int) {
        self.maximumInFlight = maximumInFlight
    }

    // MARK: Frames

    /// What to do with a frame other than SCORE_REQUEST.
    enum FrameAction: Equatable {
        /// Handle it.
        case process
        /// Answer HANDSHAKE_REQUIRED and close (PROTOCOL.md §2: the first frame must be HELLO).
        case handshakeRequired
        /// The connection is closing: drop it.
        case ignore
    }

    /// A PING, PONG, GOODBYE or wrong-direction frame arrived.
    func frameReceived() -> FrameAction {
        switch state {
        case .awaitingHello: .handshakeRequired
        case .ready, .draining: .process
        case .closed: .ignore
        }
    }

    /// What to do with HELLO.
    enum HelloAction: Equatable {
        /// Check its versions, then ``handshakeCompleted()`` and answer WELCOME.
        case negotiate
        /// A second HELLO: HANDSHAKE_REQUIRED, close.
        case helloTwice
        case ignore
    }

    func helloReceived() -> HelloAction {
        switch state {
        case .awaitingHello: .negotiate
        case .ready, .draining: .helloTwice
        case .closed: .ignore
        }
    }

    /// WELCOME is sent: requests are accepted from now on.
    mutating func handshakeCompleted() {
        if state == .awaitingHello { state = .ready }
    }

    // MARK: Requests

    /// What to do with a SCORE_REQUEST, decided from the connection's state alone.
    enum RequestAction: Equatable {
        /// Go on to the server's admission (quota, server-wide in-flight, queue); on success
        /// call ``admitted()``.
        case admit
        /// Answer this per-request error without decoding or scoring anything.
        case refuse(ErrorCode, BusyReason?)
        /// HANDSHAKE_REQUIRED, close.
        case handshakeRequired
        case ignore
    }

    /// A SCORE_REQUEST arrived. `shuttingDown`: the server is draining; `auditAvailable`: the
    /// audit log can record decisions.
    func scoreRequestReceived(shuttingDown: Bool, auditAvailable: Bool) -> RequestAction {
        switch state {
        case .awaitingHello: return .handshakeRequired
        case .closed: return .ignore
        case .draining: return .refuse(.shuttingDown, nil)
        case .ready:
            if shuttingDown { return .refuse(.shuttingDown, nil) }
            // Nothing can be recorded, so nothing is scored: a fast "no" the client routes around.
            if !auditAvailable { return .refuse(.unavailable, nil) }
            if inFlight >= maximumInFlight { return .refuse(.busy, .connectionInFlight) }
            return .admit
        }
    }

    /// The server admitted the request: it is in flight until ``requestCompleted()`` or
    /// ``requestWithdrawn()``.
    mutating func admitted() {
        inFlight += 1
    }

    /// An admitted request never reached a worker (its decode failed, or the queue refused it).
    mutating func requestWithdrawn() {
        inFlight -= 1
    }

    /// What to do with a finished request.
    enum CompletionAction: Equatable {
        /// Send its answer.
        case respond
        /// Send its answer, then close: it was the last one of a draining connection.
        case respondAndClose
        /// The connection is gone: drop the answer.
        case drop
    }

    /// A worker finished a request (its answer is ready).
    mutating func requestCompleted() -> CompletionAction {
        inFlight -= 1
        switch state {
        case .closed: return .drop
        case .draining where inFlight == 0:
            state = .closed
            return .respondAndClose
        case .awaitingHello, .ready, .draining: return .respond
        }
    }

    // MARK: Closing

    /// What to do when the connection winds down.
    enum CloseAction: Equatable {
        /// Close now (nothing in flight).
        case close
        /// Wait for the answers in flight; the last one closes.
        case wait
        /// Send GOODBYE, then close (nothing in flight).
        case sendGoodbyeAndClose
        /// Send GOODBYE; the last answer in flight closes.
        case sendGoodbye
        /// Already closing: nothing to do.
        case none
    }

    /// The client sent GOODBYE: no new requests; close once the ones in flight are answered.
    mutating func goodbyeReceived() -> CloseAction {
        guard state == .ready || state == .draining else { return .none }
        state = .draining
        return closeIfIdle(.wait)
    }

    /// The server is shutting down: say GOODBYE (or just close before the handshake).
    mutating func shutdown() -> CloseAction {
        switch state {
        case .awaitingHello:
            state = .closed
            return .close
        case .ready:
            state = .draining
            return closeIfIdle(.sendGoodbye)
        case .draining, .closed: return .none
        }
    }

    /// Nothing was read or written for the idle timeout: free the slot if nothing is in flight.
    mutating func idle() -> CloseAction {
        guard inFlight == 0 else { return .none }
        return shutdown()
    }

    /// A connection-fatal error, a timeout or a transport failure: returns whether to send the
    /// ERROR and close (false when already closing).
    mutating func fail() -> Bool {
        guard state != .closed else { return false }
        state = .closed
        return true
    }

    /// The connection is closed (by us or the peer).
    mutating func closed() {
        state = .closed
    }

    private mutating func closeIfIdle(_ otherwise: CloseAction) -> CloseAction {
        guard inFlight == 0 else { return otherwise }
        state = .closed
        return otherwise == .sendGoodbye ? .sendGoodbyeAndClose : .close
    }

    // MARK: Backpressure

    /// The channel asks for a read; returns whether to read now (false: held until writable,
    /// because the client is not reading its responses).
    mutating func readRequested(writable: Bool) -> Bool {
        if writable { return true }
        readPending = true
        return false
    }

    /// The channel's writability changed (or an answer was written); returns whether to do
    /// the read held back.
    mutating func mayResumeReading(writable: Bool) -> Bool {
        guard readPending && writable else { return false }
        readPending = false
        return true
    }
}
