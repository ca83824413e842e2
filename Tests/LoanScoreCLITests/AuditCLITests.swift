import Foundation
import LoanScoreTestSupport
import LoanScoreAudit
import Testing

/// `loanscore audit verify` and `loanscore audit export`, run as a user would.
extension CLITests {
    /// Writes `count` records to a fresh log folder and returns its path.
    func auditLog(records count: Int) async throws -> String {
        let directory = folder.appendingPathComponent("audit")
        let log = try AuditLog(directory: directory, fsync: .never)
        try await log.append((1...count).map { n in
            AuditRecord(time: Date(timeIntervalSince1970: 1_767_225_600 + Double(n)), requestID: UInt64(n), applicationID: "A\(n)",
                        modelName: "tiny", modelVersion: "1", inputHash: AuditRecord.inputHash(fields: ["\(n)"]),
                        pd: 0.25, decision: "review", riskLevel: "C", reasonCodes: ["R01", "R02"], client: "127.0.0.1:5000")
        })
        try log.close()
        return directory.path
    }

    @Test func auditVerifyReportsACleanLogAsJSON() async throws {
        let directory = try await auditLog(records: 3)
        let result = try run(["audit", "verify", "--dir", directory, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(report?["records"] as? Int == 3)
        #expect(report?["segments"] as? Int == 1)
        #expect(report?["clean"] as? Bool == true)
        #expect((report?["checksum_failures"] as? [Any])?.isEmpty == true)
    }

    @Test func auditVerifyExitsWith3OnAFlippedByte() async throws {
        let directory = try await auditLog(records: 3)
        let segment = URL(fileURLWithPath: directory).appendingPathComponent("audit-0000000000000001.log")
        var bytes = try Data(contentsOf: segment)
        bytes[20] ^= 0xFF  // inside the first record's payload
        try bytes.write(to: segment)
        let result = try run(["audit", "verify", "--dir", directory, "--json"])
        #expect(result.status == 3)
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let failures = report?["checksum_failures"] as? [[String: Any]]
        #expect(failures?.first?["offset"] as? Int == 0)
        #expect(failures?.first?["segment"] as? String == "audit-0000000000000001.log")
        #expect(report?["clean"] as? Bool == false)
        let text = try run(["audit", "verify", "--dir", directory])
        #expect(text.status == 3)
        #expect(text.stdout.contains("checksum  audit-0000000000000001.log byte 0"))
        // Export refuses a damaged log.
        let export = try run(["audit", "export", "--dir", directory, "--output", folder.appendingPathComponent("x.csv").path])
        #expect(export.status == 3)
        #expect(export.stderr.contains("error: audit log: audit-0000000000000001.log: checksum mismatch in the frame at byte 0"))
    }

    @Test func auditExportWritesCSVAndJSONLines() async throws {
        let directory = try await auditLog(records: 2)
        let csv = folder.appendingPathComponent("audit.csv").path
        let result = try run(["audit", "export", "--dir", directory, "--output", csv, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(summary?["rows"] as? Int == 2)
        #expect(summary?["output"] as? String == csv)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0] == "sequence,time,request_id,application_id,model_name,model_version,input_sha256,pd,decision,risk_level,reason_codes,client,role,shadow_model_version,shadow_pd,shadow_decision,shadow_risk_level")
        #expect(lines[1] == "1,2026-01-01T00:00:01.000Z,1,A1,tiny,1,\(AuditRecord.inputHash(fields: ["1"])),0.25,review,C,R01;R02,127.0.0.1:5000,,,,,")

        let jsonl = folder.appendingPathComponent("audit.jsonl").path
        #expect(try run(["audit", "export", "--dir", directory, "--output", jsonl]).status == 0)
        let rows = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 2)
        let second = try JSONDecoder().decode(AuditRecord.self, from: Data(rows[1].utf8))
        #expect(second.sequence == 2 && second.applicationID == "A2" && second.reasonCodes == ["R01", "R02"])
    }

    @Test func auditRefusesAMissingFolderAndAnUnknownExtension() throws {
        let missing = try run(["audit", "verify", "--dir", folder.appendingPathComponent("nope").path])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("no such audit folder"))
        let badExtension = try run(["audit", "export", "--dir", folder.path, "--output", folder.appendingPathComponent("out.txt").path])
        #expect(badExtension.status == 2)
        #expect(badExtension.stderr.contains("must end in .csv or .jsonl"))
    }
}
