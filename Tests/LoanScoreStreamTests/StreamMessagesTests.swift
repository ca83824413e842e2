import Foundation
import LoanScoreClient
import LoanScoreDecision
import LoanScoreProtocol
@testable import LoanScoreStream
import Testing

@Suite struct PartitionProgressTests {
    @Test func commitsOnlyPastAContiguousRunOfDoneOffsets() {
        var progress = PartitionProgress(generation: 1)
        for offset in Int64(10)..<15 { progress.consumed(offset) }
        #expect(progress.pendingCommit == nil)
        progress.done(12)
        progress.done(11)
        #expect(progress.pendingCommit == nil)  // 10 is not done: nothing may be committed
        progress.done(10)
        #expect(progress.pendingCommit == 13)
        progress.committed = 13
        #expect(progress.pendingCommit == nil)
        progress.done(14)
        #expect(progress.pendingCommit == nil)  // 13 is still out: 13 stays the committed offset
        progress.done(13)
        #expect(progress.pendingCommit == 15 && progress.outstanding == 0)
    }

    @Test func compactsWithoutLosingItsPlace() {
        var progress = PartitionProgress(generation: 1)
        for offset in Int64(0)..<10_000 { progress.consumed(offset) }
        for offset in Int64(0)..<9_000 { progress.done(offset) }
        #expect(progress.committable == 9_000 && progress.outstanding == 1_000)
        for offset in Int64(9_000)..<10_000 { progress.done(offset) }
        #expect(progress.committable == 10_000 && progress.outstanding == 0)
    }
}

@Suite struct StreamMessagesTests {
    let decoder = ApplicationDecoder(
        schema: WireSchema(fields: [WireField(name: "Income", type: .number), WireField(name: "Home", type: .string),
                                    WireField(name: "Flag", type: .bool)]),
        maximumMessageBytes: 200)

    func kind(_ text: String, key: String? = nil) -> DeadLetterReason.Kind? {
        if case .failure(let reason) = decoder.decode(key: key.map { Array($0.utf8) }, value: Array(text.utf8)) { return reason.kind }
        return nil
    }

    @Test func decodesAnApplication() throws {
        let application = try decoder.decode(key: Array("a-1".utf8), value: Array(#"{"id":"a-1","Income":90.5,"Home":"rent","Flag":null}"#.utf8)).get()
        #expect(application.id == "a-1")
        #expect(application.values == ["Income": .number(90.5), "Home": .text("rent"), "Flag": .missing])
    }

    @Test func refusesWithTheDocumentedKinds() {
        #expect(kind(#"{"id":"a","Income":1,}"#) == .invalidJSON)
        #expect(kind(#"{"id":"a","id":"b"}"#) == .invalidJSON)  // duplicate key
        #expect(kind("[1]") == .notAnObject)
        #expect(kind(#"{"Income":1}"#) == .invalidID)
        #expect(kind(#"{"id":7}"#) == .invalidID)
        #expect(kind(#"{"id":"a"}"#, key: "b") == .keyMismatch)
        #expect(kind(#"{"id":"a","Salary":1}"#) == .unknownField)
        #expect(kind(#"{"id":"a","Income":"90"}"#) == .wrongType)
        #expect(kind(#"{"id":"a","Home":true}"#) == .wrongType)
        #expect(kind("{\"id\":\"a\",\"Home\":\"" + String(repeating: "x", count: 300) + "\"}") == .messageTooLarge)
    }

    @Test func splitsTheAppliancesViolations() {
        let message = #"field 'Income': is above the maximum (value "9999999"; expected a number in [0, 1000000] units, required); field 'Home': is not a level (value "castle"; expected one of "rent", "owner")"#
        let reason = DeadLetterReason.invalidApplication(message)
        #expect(reason.violations.count == 2)
        #expect(reason.violations[0] == .init(field: "Income", value: "9999999", problem: "is above the maximum", expected: "a number in [0, 1000000] units, required"))
        #expect(reason.violations[1].field == "Home" && reason.violations[1].expected == #"one of "rent", "owner""#)
    }

    @Test func writesTheSameDecisionBytesEveryTime() {
        let score = ScoredApplication(pd: 0.0731, riskLevel: "low", decision: .approve, confidence: 0.854, reasons: ["A", "B\"C"])
        let source = SourcePosition(topic: "applications", partition: 3, offset: 41_872)
        let first = StreamEncoder.decision(id: "app-1", score: score, modelVersion: "v1", source: source)
        #expect(first == StreamEncoder.decision(id: "app-1", score: score, modelVersion: "v1", source: source))
        #expect(String(decoding: first, as: UTF8.self) == #"{"id":"app-1","pd":0.0731,"risk_level":"low","decision":"approve","confidence":0.854,"reasons":["A","B\"C"],"model_version":"v1","source":{"topic":"applications","partition":3,"offset":41872}}"#)
    }

    @Test func deadLettersEchoAtMost4096BytesOfTheOriginal() throws {
        let original = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000)
        let bytes = StreamEncoder.deadLetter(id: nil, key: nil, original: original, reason: DeadLetterReason(.invalidJSON, "bad"),
                                             source: SourcePosition(topic: "t", partition: 0, offset: 1), modelVersion: nil)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect((object["original"] as? String)?.utf8.count == 4096)
        #expect(object["original_bytes"] as? Int == 10_000 && object["original_truncated"] as? Bool == true)
    }
}
