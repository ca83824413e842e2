import Foundation
import LoanScoreAudit
import LoanScoreTestSupport
import Testing

func record(_ n: Int, client: String? = "CN=gateway-1") -> AuditRecord {
    AuditRecord(
        time: Date(timeIntervalSince1970: 1_767_225_600.123 + Double(n)), requestID: UInt64(1000 + n),
        applicationID: "A\(n)", modelName: "credit-g", modelVersion: "2026.01",
        inputHash: AuditRecord.inputHash(fields: ["\(n)", "1000", "rent"]), pd: 0.0625 + Double(n % 7) / 100,
        decision: n % 3 == 0 ? "decline" : "approve", riskLevel: "B", reasonCodes: ["R01", "R04"], client: client)
}

/// Appends synchronously (the completion runs before `append` returns for `.always`/`.never`,
/// and is awaited for group commit).
func appendNow(_ log: AuditLog, _ records: [AuditRecord]) async throws {
    try await log.append(records)
}

func segmentFiles(_ folder: URL) throws -> [URL] {
    try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        .filter { $0.lastPathComponent.hasPrefix("audit-") }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
}

@Suite("Audit log")
struct AuditLogTests {
    let folder = try! TinyBundle.temporaryDirectory().appendingPathComponent("audit")

    @Test func recordsRoundTripThroughJSON() throws {
        let original = record(1, client: nil)
        let data = try JSONEncoder().encode(original)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"time\":\"2026-01-01T00:00:01.123Z\""), "\(text)")
        #expect(text.contains("\"client\":null"))
        #expect(try JSONDecoder().decode(AuditRecord.self, from: data) == original)
    }

    /// A challenger's keys (`role`, `shadow`) are written in sorted position by the log's
    /// hand-written encoder, read back equal, and absent (nil) for records without them.
    @Test func challengerKeysRoundTripInSortedPosition() throws {
        var shadowed = record(2)
        shadowed.role = "champion"
        shadowed.shadow = AuditRecord.Shadow(modelVersion: "2026.02", pd: 0.375, decision: "review", riskLevel: "C")
        let bytes = try shadowed.compactJSON()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""risk_level":"B","role":"champion","seq":0,"shadow":{"decision":"review","model_version":"2026.02","pd":0.375,"risk_level":"C"},"time":"#), "\(text)")
        #expect(try JSONDecoder().decode(AuditRecord.self, from: Data(bytes)) == shadowed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(String(decoding: try encoder.encode(shadowed), as: UTF8.self) == text, "Codable and the log's encoder agree")

        var split = record(3)
        split.role = "challenger"
        let splitText = String(decoding: try split.compactJSON(), as: UTF8.self)
        #expect(splitText.contains(#""role":"challenger","seq":0,"time""#), "\(splitText)")

        let plain = String(decoding: try record(4).compactJSON(), as: UTF8.self)
        #expect(!plain.contains("role") && !plain.contains("shadow"), "no challenger, no new keys: \(plain)")
        let decoded = try JSONDecoder().decode(AuditRecord.self, from: Data(plain.utf8))
        #expect(decoded.role == nil && decoded.shadow == nil)

        shadowed.shadow?.pd = .nan
        #expect(throws: AuditError.self) { try shadowed.compactJSON() }
    }

    @Test func inputHashIsLengthPrefixedSHA256() {
        // sha256(b"\0\0\0\x02ab\0\0\0\x01c"), computed with Python's hashlib.
        #expect(AuditRecord.inputHash(fields: ["ab", "c"]) == "f2939f903016e5bb29b1e4a61cdbd376220ca03a24180b39995f2d50f2e0a647")
        #expect(AuditRecord.inputHash(fields: ["ab", "c"]) != AuditRecord.inputHash(fields: ["a", "bc"]))
        #expect(AuditRecord.inputHash(fields: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func theReusedHasherGivesTheSameDigestsFromTextOrBytes() {
        var hasher = AuditRecord.InputHasher()
        hasher.append("ab")
        hasher.append(utf8: Array("c".utf8)[...])
        #expect(hasher.finalize() == "f2939f903016e5bb29b1e4a61cdbd376220ca03a24180b39995f2d50f2e0a647")
        #expect(hasher.finalize() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "finalize starts over")
        for fields in [["1200", "(missing)", "rent", "née"], [""], ["0.25", "true"]] {
            for value in fields { hasher.append(value) }
            #expect(hasher.finalize() == AuditRecord.inputHash(fields: fields))
        }
    }

    /// The canonical form of typed values, defined once in AuditRecord: whole numbers below
    /// 10^15 as integer digits, others in Swift's round-trip form (1e15 is "1000000000000000.0"), missing as "(missing)"; the reused
    /// hasher's typed appends give the same digest as the texts.
    @Test func typedValuesHashInTheirCanonicalText() {
        let values: [AuditRecord.InputValue] = [.number(1200), .number(-5), .number(0.25), .number(1e15), .number(-0.0),
                                                .missing, .text(" Rent "), .bool(true), .bool(false)]
        #expect(values.map(\.canonicalText) == ["1200", "-5", "0.25", "1000000000000000.0", "0", "(missing)", " Rent ", "true", "false"])
        #expect(AuditRecord.inputHash(values: values) == AuditRecord.inputHash(fields: values.map(\.canonicalText)))
        var hasher = AuditRecord.InputHasher()
        hasher.append(number: 1200)
        hasher.appendMissing()
        hasher.append(utf8: Array("rent".utf8)[...])
        hasher.append(bool: true)
        #expect(hasher.finalize() == AuditRecord.inputHash(fields: ["1200", "(missing)", "rent", "true"]))
    }

    /// A record too large for a frame fails its whole append under group commit: no frame and
    /// no sequence number used; the next append starts at 1. Extreme ids and unescaped
    /// non-ASCII text read back equal.
    @Test func anOversizeRecordFailsItsAppendAndUsesNoSequence() async throws {
        let log = try AuditLog(directory: folder, fsync: .groupCommit())
        var huge = record(2)
        huge.applicationID = String(repeating: "x", count: AuditSegmentFormat.maxPayload)
        await #expect(throws: AuditError.self) { try await appendNow(log, [record(1), huge, record(3)]) }
        var extreme = record(4)
        extreme.requestID = .max
        extreme.applicationID = "née-Ω-申请"
        try await appendNow(log, [extreme])
        try log.close()
        extreme.sequence = 1
        #expect(try AuditReader(directory: folder).records() == [extreme])
    }

    /// One append formats a time once and reuses it while the records' times repeat.
    @Test func recordsOfOneAppendKeepTheirOwnTimes() async throws {
        let log = try AuditLog(directory: folder, fsync: .never)
        let times: [Int64] = [1_767_225_600_123, 1_767_225_600_123, 1_767_225_601_000, 1_767_225_600_123, 0]
        try await appendNow(log, times.enumerated().map { index, milliseconds in
            var r = record(index)
            r.timeMilliseconds = milliseconds
            return r
        })
        try log.close()
        #expect(try AuditReader(directory: folder).records().map(\.timeMilliseconds) == times)
    }

    /// The server hashes whole numbers' digits and request bytes without making Strings: the
    /// digests must equal hashing the display text.
    @Test func decimalsAndByteSlicesHashAsTheirText() {
        let values: [Int64] = [0, 7, -7, 10, 999_999_999_999_999, -999_999_999_999_999, .max, .min, 1_200, -40]
        var fast = AuditRecord.InputHasher(), text = AuditRecord.InputHasher()
        for value in values {
            fast.append(decimal: value)
            text.append(String(value))
        }
        let arena = Array("xx née rent".utf8)
        fast.append(utf8: arena[3..<8])
        text.append("née ")
        Array("rent".utf8).withUnsafeBufferPointer { fast.append(utf8: $0) }
        text.append("rent")
        fast.append(utf8: repeatElement(UInt8(ascii: "z"), count: 2))  // no contiguous storage: copied first
        text.append("zz")
        #expect(fast.finalize() == text.finalize())
    }

    @Test func textIsEscapedAsJSONRequiresAndReadsBack() throws {
        let id = "a\"b\\c\nd\te\u{01}f née/\r"
        let record = AuditRecord(requestID: 9, applicationID: id, modelName: "m", modelVersion: "v", inputHash: "", pd: 0.5,
                                 decision: "review", riskLevel: "medium", reasonCodes: ["R\"1"], client: "CN=x,O=\\y")
        let json = try record.compactJSON()
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.hasPrefix(#"{"application_id":"a\"b\\c\nd\te\u0001f née/\r","client":"CN=x,O=\\y""#))
        #expect(text.contains(#""reasons":["R\"1"]"#))
        let back = try JSONDecoder().decode(AuditRecord.self, from: Data(json))
        #expect(back.applicationID == id && back.client == record.client && back.reasonCodes == record.reasonCodes)
    }

    @Test func aTimeOutsideFourDigitYearsIsRefusedNotWrittenWrong() {
        for milliseconds: Int64 in [253_402_300_800_000, -62_167_219_200_001] {
            var record = AuditRecord(requestID: 1, applicationID: "a", modelName: "m", modelVersion: "v", inputHash: "", pd: 0.5,
                                     decision: "review", riskLevel: "medium", reasonCodes: [], client: nil)
            record.timeMilliseconds = milliseconds
            #expect(throws: AuditError.self) { try record.compactJSON() }
            #expect(throws: EncodingError.self) { try JSONEncoder().encode(record) }
        }
    }

    /// Times written digit by digit, against Python's `datetime` for the same milliseconds.
    @Test(arguments: [(Int64(0), "1970-01-01T00:00:00.000Z"), (-1, "1969-12-31T23:59:59.999Z"),
                      (1_798_675_199_999, "2026-12-30T23:59:59.999Z"), (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
                      (253_402_300_799_999, "9999-12-31T23:59:59.999Z"), (-62_167_219_200_000, "0000-01-01T00:00:00.000Z")])
    func timesAreISO8601WithMilliseconds(milliseconds: Int64, text: String) throws {
        var record = AuditRecord(requestID: 1, applicationID: "a", modelName: "m", modelVersion: "v", inputHash: "", pd: 0.5,
                                 decision: "review", riskLevel: "medium", reasonCodes: [], client: nil)
        record.timeMilliseconds = milliseconds
        #expect(record.timeText == text)
        let json = try record.compactJSON()
        #expect(String(decoding: json, as: UTF8.self).hasSuffix(",\"time\":\"\(text)\"}"))
        #expect(try JSONDecoder().decode(AuditRecord.self, from: Data(json)).timeMilliseconds == milliseconds)
    }

    @Test(arguments: [FsyncPolicy.always, .never, .groupCommit()])
    func appendsThenReadsBack(policy: FsyncPolicy) async throws {
        let log = try AuditLog(directory: folder, fsync: policy)
        #expect(log.recovery == nil)
        try await appendNow(log, [record(1), record(2)])
        try await appendNow(log, [record(3, client: nil)])
        try log.close()
        let records = try AuditReader(directory: folder).records()
        #expect(records.map(\.sequence) == [1, 2, 3])
        #expect(records.map(\.applicationID) == ["A1", "A2", "A3"])
        var expected = record(3, client: nil)
        expected.sequence = 3
        #expect(records[2] == expected)
        #expect(try segmentFiles(folder).map(\.lastPathComponent) == ["audit-0000000000000001.log"])
        let report = try AuditReader(directory: folder).verify()
        #expect(report.isClean)
        #expect(report.records == 3 && report.segments == 1 && report.lastSequence == 3)
    }

    @Test(arguments: [FsyncPolicy.always, .never, .groupCommit()])
    func everyCommitIsReportedWithWhatItWrote(policy: FsyncPolicy) async throws {
        let commits = Commits()
        let log = try AuditLog(directory: folder, fsync: policy, onCommit: commits.add)
        try await appendNow(log, [record(1), record(2)])
        try await appendNow(log, [record(3)])
        try log.close()
        let seen = commits.all
        // One append at a time, each awaited: one commit each, whatever the policy.
        #expect(seen.map(\.appends) == [1, 1])
        #expect(seen.map(\.records) == [2, 1])
        #expect(seen.allSatisfy { $0.succeeded && $0.duration > .zero })
        let size = try segmentFiles(folder).reduce(0) { $0 + (try Data(contentsOf: $1)).count }
        #expect(seen.map(\.bytes).reduce(0, +) == size, "the bytes reported are the bytes in the segments")
        #expect(log.commitCount == seen.count)
    }

    @Test func groupCommitCompletesAppendsInSequenceOrderAcrossSegments() async throws {
        let commits = Commits()
        let log = try AuditLog(directory: folder, fsync: .groupCommit(), maxSegmentBytes: 16 << 10, onCommit: commits.add)
        let order = Completions()
        let appends = 400
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Completions()
            for i in 0..<appends {
                log.append([record(i)]) { result in
                    order.add(result, index: i)
                    remaining.add(result)
                    if remaining.successes + remaining.failures == appends { done.resume() }
                }
            }
        }
        try log.close()
        #expect(order.failures == 0)
        #expect(order.indices == Array(0..<appends), "answered in the order appended")
        #expect(commits.all.count == log.commitCount && commits.all.map(\.records).reduce(0, +) == appends)
        let records = try AuditReader(directory: folder).records()
        #expect(records.map(\.applicationID) == (0..<appends).map { "A\($0)" })
        #expect(try AuditReader(directory: folder).verify().isClean)
        #expect(try segmentFiles(folder).count > 1, "segments rotated under group commit")
    }

    @Test func framesAreLengthChecksumAndCompactJSON() async throws {
        let log = try AuditLog(directory: folder, fsync: .never)
        try await appendNow(log, [record(1)])
        try log.close()
        let bytes = try Data(contentsOf: try segmentFiles(folder)[0])
        let length = bytes.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        #expect(bytes.count == 12 + length)
        let payload = bytes.dropFirst(12)
        #expect(payload.first == UInt8(ascii: "{") && !payload.contains(UInt8(ascii: "\n")))
        #expect(String(decoding: payload, as: UTF8.self).hasPrefix("{\"application_id\":\"A1\""))
    }

    @Test func sequenceContinuesAfterReopen() async throws {
        var log = try AuditLog(directory: folder, fsync: .always)
        try await appendNow(log, (1...5).map { record($0) })
        try log.close()
        log = try AuditLog(directory: folder, fsync: .always)
        #expect(log.nextSequenceNumber == 6)
        try await appendNow(log, [record(6), record(7)])
        try log.close()
        #expect(try AuditReader(directory: folder).records().map(\.sequence) == Array(1...7))
    }

    @Test func appendsAfterCloseFail() async throws {
        let log = try AuditLog(directory: folder, fsync: .never)
        try log.close()
        try log.close()  // idempotent
        await #expect(throws: AuditError.self) { try await log.append([record(1)]) }
    }

    @Test func aNonFinitePDIsRefusedWithoutUsingASequenceNumber() async throws {
        let log = try AuditLog(directory: folder, fsync: .never)
        var bad = record(1)
        bad.pd = .nan
        do {
            try await log.append([record(1), bad])
            Issue.record("a NaN PD was accepted")
        } catch let error as AuditError {
            #expect(error.code == .encoding)
        }
        try await appendNow(log, [record(2)])
        try log.close()
        #expect(try AuditReader(directory: folder).records().map(\.sequence) == [1])
    }

    @Test func rotationMakesSeveralSegmentsAndReadingCrossesThem() async throws {
        let log = try AuditLog(directory: folder, fsync: .groupCommit(), maxSegmentBytes: 2_000)
        for batch in 0..<10 { try await appendNow(log, (1...5).map { record(batch * 5 + $0) }) }
        try log.close()
        let files = try segmentFiles(folder)
        #expect(files.count > 3)
        for file in files {
            let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
            #expect(size <= 2_000 && size > 0, "\(file.lastPathComponent) is \(size) bytes")
        }
        let records = try AuditReader(directory: folder).records()
        #expect(records.map(\.sequence) == Array(1...50))
        #expect(records.map(\.applicationID) == (1...50).map { "A\($0)" })
        let report = try AuditReader(directory: folder).verify()
        #expect(report.isClean, "\(report)")
        #expect(report.segments == files.count)
        // Each segment is named for its first record.
        let second = try AuditReader(directory: folder).segments()[1].lastPathComponent
        let firstOfSecond = records.first { $0.sequence > 1 && second == "audit-" + String(format: "%016llu", $0.sequence) + ".log" }
        #expect(firstOfSecond != nil)
        // Reopening continues in the newest segment.
        let reopened = try AuditLog(directory: folder, fsync: .never, maxSegmentBytes: 2_000)
        #expect(reopened.nextSequenceNumber == 51)
        try reopened.close()
    }

    @Test func aTornTailIsReportedByVerifyAndCutOnReopen() async throws {
        var log = try AuditLog(directory: folder, fsync: .always)
        try await appendNow(log, (1...3).map { record($0) })
        try log.close()
        let file = try segmentFiles(folder)[0]
        let whole = try Data(contentsOf: file)
        // Cut the last record in half, as a crash during its write would.
        let lastLength = try frameOffsets(whole).last!
        try whole.prefix(lastLength + 30).write(to: file)

        let report = try AuditReader(directory: folder).verify()
        #expect(!report.isClean)
        #expect(report.tornTail?.offset == lastLength)
        #expect(report.tornTail?.segment == "audit-0000000000000001.log")
        #expect(report.records == 2)
        #expect(report.checksumFailures.isEmpty)

        log = try AuditLog(directory: folder, fsync: .always)
        #expect(log.recovery?.offset == lastLength)
        #expect(log.recovery?.bytesRemoved == 30)
        #expect(log.nextSequenceNumber == 3, "the torn record was never completed, so its number is reused")
        try await appendNow(log, [record(3)])
        try log.close()
        #expect(try AuditReader(directory: folder).verify().isClean)
        #expect(try AuditReader(directory: folder).records().map(\.sequence) == [1, 2, 3])
    }

    @Test(arguments: [
        [UInt8](repeating: 0xAB, count: 7),  // too short for a header
        [0x00, 0x00, 0x40, 0x00] + [UInt8](repeating: 0x55, count: 40),  // claims 16 KiB, has 40 bytes
        [UInt8](repeating: 0, count: 100),  // zero-filled by the file system
    ])
    func garbageAfterTheLastRecordIsATornTail(garbage: [UInt8]) async throws {
        var log = try AuditLog(directory: folder, fsync: .never)
        try await appendNow(log, [record(1), record(2)])
        try log.close()
        let file = try segmentFiles(folder)[0]
        let goodSize = try Data(contentsOf: file).count
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: garbage)
        try handle.close()

        #expect(try AuditReader(directory: folder).verify().tornTail?.offset == goodSize)
        log = try AuditLog(directory: folder, fsync: .never)
        #expect(log.recovery?.bytesRemoved == garbage.count)
        try log.close()
        #expect(try Data(contentsOf: file).count == goodSize)
        #expect(try AuditReader(directory: folder).verify().isClean)
    }

    @Test func aFlippedByteIsAChecksumFailureAtItsFrame() async throws {
        var log = try AuditLog(directory: folder, fsync: .never)
        try await appendNow(log, (1...4).map { record($0) })
        try log.close()
        let file = try segmentFiles(folder)[0]
        var bytes = try Data(contentsOf: file)
        let offsets = try frameOffsets(bytes)
        bytes[offsets[1] + 12 + 20] ^= 0x01  // inside the second record's payload
        try bytes.write(to: file)

        let report = try AuditReader(directory: folder).verify()
        #expect(report.checksumFailures == [.init(segment: "audit-0000000000000001.log", offset: offsets[1], problem: "checksum mismatch")])
        #expect(report.records == 3)
        #expect(report.sequenceGaps.map(\.expected) == [2])
        #expect(report.sequenceGaps.map(\.found) == [3])
        #expect(report.tornTail == nil)
        #expect(throws: AuditError.self) { try AuditReader(directory: folder).records() }
        // Not a torn tail: opening refuses rather than append after damage.
        do {
            log = try AuditLog(directory: folder, fsync: .never)
            Issue.record("opened a damaged log")
        } catch let error as AuditError {
            #expect(error.code == .corrupt)
            #expect(error.message.contains("byte \(offsets[1])"))
        }
    }

    /// Zero delay (the default) still groups: appends that arrive during an fsync share the next one.
    @Test(arguments: [Duration.zero, .milliseconds(2)])
    func groupCommitCompletesEveryConcurrentAppendInOrder(maxDelay: Duration) async throws {
        let log = try AuditLog(directory: folder, fsync: .groupCommit(maxDelay: maxDelay), maxSegmentBytes: 64 << 10)
        let threads = 8, appendsPerThread = 150
        let completions = Completions()
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            Thread {
                for i in 0..<appendsPerThread {
                    let n = t * 10_000 + i
                    // Each thread's appends are issued one after another; batches of 1 or 2.
                    log.append(i % 2 == 0 ? [record(n)] : [record(n), record(n + 5_000)]) { result in
                        completions.add(result)
                    }
                }
                done.leave()
            }.start()
        }
        done.wait()
        try log.close()  // waits for the writer to finish every pending append
        #expect(log.commitCount < threads * appendsPerThread, "appends were grouped into fewer fsyncs")
        #expect(completions.successes == threads * appendsPerThread)
        #expect(completions.failures == 0)
        let records = try AuditReader(directory: folder).records()
        let expectedCount = threads * (appendsPerThread / 2 * 1 + appendsPerThread / 2 * 2)
        #expect(records.count == expectedCount)
        #expect(records.map(\.sequence) == (1...UInt64(expectedCount)).map { $0 })
        #expect(try AuditReader(directory: folder).verify().isClean)
        // Each thread's records appear in the order that thread appended them.
        for t in 0..<threads {
            let mine = records.map(\.requestID).filter { ($0 - 1000) / 10_000 == UInt64(t) && ($0 - 1000) % 10_000 < 5_000 }
            #expect(mine == mine.sorted())
        }
    }
}

/// Counts completions from many threads.
final class Completions: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var ok = 0, failed = 0
    private var order: [Int] = []
    func add(_ result: Result<Void, AuditError>, index: Int? = nil) {
        lock.lock()
        defer { lock.unlock() }
        if case .success = result { ok += 1 } else { failed += 1 }
        if let index { order.append(index) }
    }
    /// The `index` of each completion, in the order they ran.
    var indices: [Int] { lock.lock(); defer { lock.unlock() }; return order }
    var successes: Int { lock.lock(); defer { lock.unlock() }; return ok }
    var failures: Int { lock.lock(); defer { lock.unlock() }; return failed }
}

/// Collects ``AuditCommit`` reports from the writer thread.
final class Commits: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var commits: [AuditCommit] = []
    @Sendable func add(_ commit: AuditCommit) {
        lock.lock()
        defer { lock.unlock() }
        commits.append(commit)
    }
    var all: [AuditCommit] { lock.lock(); defer { lock.unlock() }; return commits }
}

/// The byte offsets of the frames in a well-formed segment.
func frameOffsets(_ bytes: Data) throws -> [Int] {
    var offsets: [Int] = []
    var offset = 0
    while offset + 12 <= bytes.count {
        offsets.append(offset)
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        offset += 12 + length
    }
    return offsets
}

@Suite("Audit record JSON")
struct AuditRecordJSONTests {
    @Test func handWrittenJSONMatchesJSONEncoderAndRoundTrips() throws {
        let records = [
            AuditRecord(sequence: 42, time: Date(timeIntervalSince1970: 1_764_400_000.123), requestID: 7, applicationID: "A-1",
                        modelName: "credit_data", modelVersion: "v1", inputHash: String(repeating: "ab", count: 32), pd: 0.28571428571428575,
                        decision: "review", riskLevel: "medium", reasonCodes: ["R01", "R07"], client: "/O=Bank/CN=gateway"),
            AuditRecord(sequence: 1, time: Date(timeIntervalSince1970: 0), requestID: 0, applicationID: "quote \" backslash \\ tab \t nl \n \u{01} é",
                        modelName: "m", modelVersion: "v", inputHash: "", pd: 0.0005, decision: "approve", riskLevel: "very_low",
                        reasonCodes: [], client: nil),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for record in records {
            let ours = try record.compactJSON()
            #expect(try JSONDecoder().decode(AuditRecord.self, from: Data(ours)) == record)
            let theirs = try JSONSerialization.jsonObject(with: encoder.encode(record)) as? NSDictionary
            #expect(try JSONSerialization.jsonObject(with: Data(ours)) as? NSDictionary == theirs)
        }
        #expect(try String(decoding: records[0].compactJSON(), as: UTF8.self) == String(decoding: encoder.encode(records[0]), as: UTF8.self))
    }

    @Test func aNonFinitePDIsRefused() {
        let record = AuditRecord(requestID: 1, applicationID: "x", modelName: "m", modelVersion: "v", inputHash: "", pd: .nan,
                                 decision: "approve", riskLevel: "low", reasonCodes: [], client: nil)
        #expect(throws: AuditError.self) { try record.compactJSON() }
    }
}
