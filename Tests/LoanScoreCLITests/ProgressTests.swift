import Foundation
import LoanScoreAudit
@testable import LoanScoreCLI
import LoanScoreTestSupport
import Testing

/// Progress on standard error: drawn only on a terminal, never into a file or a pipe.
@Suite("Progress reports")
struct ProgressTests {
    /// Collects what a reporter writes.
    final class Sink: @unchecked Sendable {
        var text = ""
    }

    @Test("Nothing is written when standard error is not a terminal")
    func silentWithoutTerminal() {
        let sink = Sink()
        let reporter = ProgressReporter(label: "scoring x.csv", totalBytes: 1_000, itemName: "rows", isTerminal: false,
                                        delay: .zero, interval: .zero) { sink.text += $0 }
        for step in 1...10 { reporter.update(bytes: Int64(step * 100), items: step) }
        reporter.finish()
        #expect(sink.text.isEmpty)
        #expect(!reporter.isEnabled)
    }

    @Test("On a terminal: percent, rates and time left on one line, erased at the end")
    func drawnOnTerminal() {
        let sink = Sink()
        let reporter = ProgressReporter(label: "scoring x.csv", totalBytes: 2_000_000, itemName: "rows", isTerminal: true,
                                        delay: .zero, interval: .zero) { sink.text += $0 }
        reporter.update(bytes: 500_000, items: 1_000)
        #expect(sink.text.hasPrefix("\rscoring x.csv: 25% of 2.00 MB, "))
        #expect(sink.text.contains("rows/s"))
        #expect(sink.text.contains(" left\u{1B}[K"))
        reporter.finish()
        #expect(sink.text.hasSuffix("\r\u{1B}[K"))
    }

    @Test("A short run draws nothing, even on a terminal")
    func shortRunsStayQuiet() {
        let sink = Sink()
        let reporter = ProgressReporter(label: "x", totalBytes: 10, isTerminal: true) { sink.text += $0 }
        reporter.update(bytes: 5)
        reporter.finish()
        #expect(sink.text.isEmpty)
    }

    @Test("Figures: bytes, durations, grouped counts")
    func figures() {
        #expect(ProgressReporter.byteCount(512) == "512 B")
        #expect(ProgressReporter.byteCount(707_000_000) == "707 MB")
        #expect(ProgressReporter.byteCount(23_400_000) == "23.4 MB")
        #expect(ProgressReporter.duration(42) == "42 s")
        #expect(ProgressReporter.duration(200) == "3 min 20 s")
        #expect(ProgressReporter.duration(7_500) == "2 h 05 min")
        #expect(ProgressReporter.grouped(81_000) == "81,000")
        #expect(ProgressReporter.grouped(999) == "999")
        let line = ProgressReporter.line(label: "verifying audit", bytes: 300, totalBytes: 1_000, items: nil, elapsed: .seconds(3))
        #expect(line == "verifying audit: 30% of 1.00 kB, 100 B/s, about 7 s left")
    }

    @Test("An audit log read reports its bytes, rising to the total")
    func auditReadProgress() async throws {
        let directory = try TinyBundle.temporaryDirectory().appendingPathComponent("audit")
        let log = try AuditLog(directory: directory, fsync: .never, maxSegmentBytes: 4_096)
        for n in 1...200 {  // one append each: segments roll over between appends
            try await log.append([
                AuditRecord(time: Date(timeIntervalSince1970: 1_767_225_600 + Double(n)), requestID: UInt64(n), applicationID: "A\(n)",
                            modelName: "tiny", modelVersion: "1", inputHash: AuditRecord.inputHash(fields: ["\(n)"]),
                            pd: 0.25, decision: "review", riskLevel: "C", reasonCodes: ["R01"], client: "127.0.0.1:5000")
            ])
        }
        try log.close()
        var calls: [(Int64, Int64)] = []
        let report = try AuditReader(directory: directory).verify { calls.append(($0, $1)) }
        #expect(report.isClean && report.segments > 1)
        #expect(calls.map(\.0) == calls.map(\.0).sorted())
        let total = try #require(calls.last?.1)
        #expect(calls.last?.0 == total && total > 0)
    }

    @Test("loanscore score and audit verify/export write no progress into a pipe")
    func commandsQuietIntoAPipe() async throws {
        let folder = try TinyBundle.temporaryDirectory()
        try TinyBundle.write(to: folder.appendingPathComponent("bundle"))
        var csv = "application_id,amount,income,home,records,term\n"
        for n in 1...20_000 { csv += "A\(n),\(500 + n % 900),\(1000 + n % 77),rent,no,12\n" }
        let input = folder.appendingPathComponent("in.csv")
        try Data(csv.utf8).write(to: input)
        let loanscore = BuiltExecutable("loanscore")
        let scored = try loanscore.run(["score", "--bundle", folder.appendingPathComponent("bundle").path, "--input", input.path,
                                        "--output", folder.appendingPathComponent("out.csv").path])
        #expect(scored.status == 0, "\(scored.stderr)")
        #expect(scored.stderr.isEmpty)

        let audit = folder.appendingPathComponent("audit")
        let log = try AuditLog(directory: audit, fsync: .never)
        try await log.append((1...50).map { n in
            AuditRecord(time: Date(timeIntervalSince1970: 1_767_225_600 + Double(n)), requestID: UInt64(n), applicationID: "A\(n)",
                        modelName: "tiny", modelVersion: "1", inputHash: AuditRecord.inputHash(fields: ["\(n)"]),
                        pd: 0.25, decision: "review", riskLevel: "C", reasonCodes: ["R01"], client: "127.0.0.1:5000")
        })
        try log.close()
        let verified = try loanscore.run(["audit", "verify", "--dir", audit.path])
        #expect(verified.status == 0 && verified.stderr.isEmpty, "\(verified.stderr)")
        let exported = try loanscore.run(["audit", "export", "--dir", audit.path, "--output", folder.appendingPathComponent("a.jsonl").path])
        #expect(exported.status == 0 && exported.stderr.isEmpty, "\(exported.stderr)")
    }
}
