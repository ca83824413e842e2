import Foundation
import LoanScoreServer
import LoanScoreTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// `log_format: json`: one JSON object per line, whatever the message holds.
@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// A logger whose lines are collected.
    static func logger(_ lines: NIOLockedValueBox<[String]>) -> Logger {
        Logger(label: "loanscored") { label in
            var handler = JSONLogHandler(label: label) { line in lines.withLockedValue { $0.append(line) } }
            handler.logLevel = .debug
            return handler
        }
    }

    @Test func everyLineParsesWithItsMetadataEvenWithQuotesNewlinesAndControlCharacters() throws {
        let lines = NIOLockedValueBox<[String]>([])
        var logger = Self.logger(lines)
        logger[metadataKey: "connection"] = "7"
        logger[metadataKey: "model_version"] = "2026.12"
        let message = "client said \"bye\"\nsecond line\\ with \t tab, \u{1B}[31m escape, \u{2028} and é"
        logger.notice("\(message)", metadata: ["request_id": "42", "code": "BUSY", "nested": ["a": ["1", "2"]]])
        logger.debug("plain")
        logger.trace("below the level")

        let written = lines.withLockedValue { $0 }
        try #require(written.count == 2, "\(written)")
        for line in written {
            #expect(line.hasSuffix("}\n") && line.dropLast().firstIndex(of: "\n") == nil, "one line per record: \(line)")
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any], "\(written[0])")
        #expect(object["message"] as? String == message)
        #expect(object["level"] as? String == "notice")
        #expect(object["connection"] as? String == "7")
        #expect(object["model_version"] as? String == "2026.12")
        #expect(object["request_id"] as? String == "42")
        #expect(object["code"] as? String == "BUSY")
        #expect((object["nested"] as? [String: [String]]) == ["a": ["1", "2"]])
        let timestamp = try #require(object["timestamp"] as? String)
        // ISO 8601 in UTC, milliseconds: 2026-12-03T19:30:00.123Z, and close to now.
        #expect(timestamp.count == 24 && timestamp.hasSuffix("Z"), "\(timestamp)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: timestamp), "\(timestamp)")
        #expect(abs(date.timeIntervalSinceNow) < 60)

        let plain = try #require(try JSONSerialization.jsonObject(with: Data(written[1].utf8)) as? [String: Any])
        #expect(plain["message"] as? String == "plain" && plain["level"] as? String == "debug")
    }

    @Test func theConfigurationFileChoosesTheFormat() throws {
        let decoded = try JSONDecoder().decode(ServerConfiguration.self, from: Data(#"{"log_format": "json"}"#.utf8))
        #expect(decoded.logFormat == .json)
        #expect(try JSONDecoder().decode(ServerConfiguration.self, from: Data("{}".utf8)).logFormat == .text)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ServerConfiguration.self, from: Data(#"{"log_format": "xml"}"#.utf8)) }
    }
}

/// `loanscored --log-format`: the flag chooses the format, over the configuration file.
@Suite("loanscored log format")
struct LogFormatProcessTests {
    @Test func theFlagWritesJSONLinesEvenForARefusedConfiguration() throws {
        let binary = BuiltExecutable("loanscored")
        try #require(binary.exists, "build loanscored first (swift build)")
        // No bundle: the configuration is refused (exit 2), and that refusal is a JSON line.
        let json = try binary.run(["--log-format", "json", "--cert", "c.pem", "--key", "k.pem"])
        #expect(json.status == 2, "\(json.stderr)")
        let lines = json.stderr.split(separator: "\n")
        try #require(!lines.isEmpty)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["level"] as? String == "critical")
            #expect((object["message"] as? String)?.contains("configuration refused") == true, "\(line)")
        }
        let text = try binary.run(["--log-format", "text", "--cert", "c.pem", "--key", "k.pem"])
        #expect(text.status == 2)
        #expect(text.stderr.contains("critical") && text.stderr.contains("configuration refused") && !text.stderr.hasPrefix("{"), "\(text.stderr)")
        let bad = try binary.run(["--log-format", "xml"])
        #expect(bad.status == 2, "\(bad.stderr)")
    }
}
