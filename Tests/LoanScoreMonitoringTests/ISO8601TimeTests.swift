import Foundation
import LoanScoreMonitoring
import Testing

/// `observed_at` and `--since` (`loanscore outcomes`): the documented forms are read exactly,
/// and impossible dates or trailing text are refused instead of being rolled over or cut off
/// (Foundation's `ISO8601DateFormatter` read `2026-02-30` as 2 March and `2026-01-01xyz` as
/// 1 January).
@Suite("ISO 8601 dates of outcomes")
struct ISO8601TimeTests {
    @Test("accepted forms", arguments: [
        ("2026-01-31", 1_769_817_600.0),
        ("2024-02-29", 1_709_164_800.0),
        ("2000-02-29", 951_782_400.0),
        ("1969-12-31", -86_400.0),
        ("2026-01-31T12:00:00Z", 1_769_860_800.0),
        ("2026-01-31T12:00:00", 1_769_860_800.0),
        ("2026-01-31T12:00:00.25Z", 1_769_860_800.25),
        ("2026-01-31T14:30:00+02:30", 1_769_860_800.0),
        ("2026-01-31T07:00:00-05:00", 1_769_860_800.0),
    ])
    func accepted(_ text: String, _ seconds: Double) throws {
        #expect(try ISO8601Time.parse(text).timeIntervalSince1970 == seconds)
    }

    @Test("refused, saying why", arguments: [
        ("2026-02-30", "day 30 is not in 2026-02 (28 days)"),
        ("2026-02-29", "day 29 is not in 2026-02 (28 days)"),
        ("1900-02-29", "day 29 is not in 1900-02 (28 days)"),
        ("2026-04-31", "day 31 is not in 2026-04 (30 days)"),
        ("2026-13-01", "month 13 is not 01 to 12"),
        ("2026-00-10", "month 0 is not 01 to 12"),
        ("2026-01-00", "day 0 is not in 2026-01"),
        ("2026-01-01xyz", "unexpected text after the date"),
        ("2026-01-01 junk", "unexpected text after the date"),
        ("2026-1-1", "the month must be 2 digits"),
        ("20260101", "expected '-' before the month"),
        ("-2026-01-01", "the year must be 4 digits"),
        ("", "the text ends where the year"),
        ("2026-01-01T25:00:00Z", "hour 25 is not 00 to 23"),
        ("2026-01-01T10:60:00Z", "minute 60 is not 00 to 59"),
        ("2026-01-01T23:59:60Z", "second 60 is not 00 to 59"),
        ("2026-01-01T10:00Z", "expected ':' before the second"),
        ("2026-01-01T10:00:00+99:00", "offset +99:00 is not within ±23:59"),
        ("2026-01-01T10:00:00.Z", "no digits after the decimal point"),
        ("2026-01-01T10:00:00Zjunk", "unexpected text after the zone"),
        ("2026-01-01T10:00:00 UTC", "unexpected text after the time"),
        ("２０２６-01-01", "the year must be 4 digits"),
    ])
    func refused(_ text: String, _ problem: String) {
        #expect(throws: ISO8601Time.Invalid.self) { try ISO8601Time.parse(text) }
        do {
            _ = try ISO8601Time.parse(text)
        } catch {
            #expect(error.problem.contains(problem), "\(text): \(error.problem)")
        }
    }
}
