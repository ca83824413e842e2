import LoanScoreProtocol
@testable import LoanScoreServer
import Testing

/// The connection's policy without a channel: every event and the action it returns.
@Suite("connection state machine")
struct ConnectionStateMachineTests {
    @Test func theFirstFrameMustBeHello() {
        var policy = ConnectionStateMachine(maximumInFlight: 2)
        #expect(policy.frameReceived() == .handshakeRequired)
        #expect(policy.scoreRequestReceived(shuttingDown: false, auditAvailable: true) == .handshakeRequired)
        #expect(policy.helloReceived() == .negotiate)
        policy.handshakeCompleted()
        #expect(policy.state == .ready)
        #expect(policy.helloReceived() == .helloTwice)
        #expect(policy.frameReceived() == .process)
    }

    @Test func requestsAreRefusedByStateBeforeAnythingIsDecoded() {
        var policy = ready(maximumInFlight: 2)
        #expect(policy.scoreRequestReceived(shuttingDown: true, auditAvailable: true) == .refuse(.shuttingDown, nil))
        #expect(policy.scoreRequestReceived(shuttingDown: false, auditAvailable: false) == .refuse(.unavailable, nil))
        #expect(policy.scoreRequestReceived(shuttingDown: false, auditAvailable: true) == .admit)
        policy.admitted()
        policy.admitted()
        #expect(policy.scoreRequestReceived(shuttingDown: false, auditAvailable: true) == .refuse(.busy, .connectionInFlight))
        policy.requestWithdrawn()  // its decode failed
        #expect(policy.scoreRequestReceived(shuttingDown: false, auditAvailable: true) == .admit)
        let r1 = policy.requestCompleted()
        #expect(r1 == .respond)
        #expect(policy.inFlight == 0)
    }

    @Test func goodbyeDrainsThenTheLastAnswerCloses() {
        var policy = ready(maximumInFlight: 4)
        policy.admitted()
        policy.admitted()
        let r2 = policy.goodbyeReceived()
        #expect(r2 == .wait)
        #expect(policy.state == .draining)
        #expect(policy.scoreRequestReceived(shuttingDown: false, auditAvailable: true) == .refuse(.shuttingDown, nil))
        let r3 = policy.requestCompleted()
        #expect(r3 == .respond)
        let r4 = policy.requestCompleted()
        #expect(r4 == .respondAndClose)
        #expect(policy.state == .closed)
        #expect(policy.frameReceived() == .ignore)
    }

    @Test func shutdownAndIdleSayGoodbye() {
        var idle = ready(maximumInFlight: 4)
        let r5 = idle.idle()
        #expect(r5 == .sendGoodbyeAndClose)
        var busy = ready(maximumInFlight: 4)
        busy.admitted()
        let r6 = busy.idle()
        #expect(r6 == .none, "not idle while a request is in flight")
        let r7 = busy.shutdown()
        #expect(r7 == .sendGoodbye)
        let r8 = busy.shutdown()
        #expect(r8 == .none, "GOODBYE once")
        let r9 = busy.requestCompleted()
        #expect(r9 == .respondAndClose)
        var handshaking = ConnectionStateMachine(maximumInFlight: 4)
        let r10 = handshaking.shutdown()
        #expect(r10 == .close)
    }

    @Test func failureClosesOnceAndLateAnswersAreDropped() {
        var policy = ready(maximumInFlight: 4)
        policy.admitted()
        let r11 = policy.fail()
        #expect(r11)
        let r12 = policy.fail()
        #expect(!r12)
        let r13 = policy.requestCompleted()
        #expect(r13 == .drop)
    }

    @Test func readsWaitWhileResponsesBackUp() {
        var policy = ready(maximumInFlight: 4)
        let r14 = policy.readRequested(writable: true)
        #expect(r14)
        let r15 = policy.readRequested(writable: false)
        #expect(!r15)
        let r16 = policy.mayResumeReading(writable: false)
        #expect(!r16)
        let r17 = policy.mayResumeReading(writable: true)
        #expect(r17)
        let r18 = policy.mayResumeReading(writable: true)
        #expect(!r18, "one held read, resumed once")
    }

    private func ready(maximumInFlight: Int) -> ConnectionStateMachine {
        var policy = ConnectionStateMachine(maximumInFlight: maximumInFlight)
        policy.handshakeCompleted()
        return policy
    }
}
