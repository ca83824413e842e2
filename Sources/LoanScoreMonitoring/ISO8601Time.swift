public import Foundation

/// A strict reader of the ISO 8601 dates and date-times `loanscore outcomes` takes
/// (`observed_at`, `--since`): `2026-01-31` (midnight UTC) or `2026-01-31T12:00:00`, with
/// optional fractional seconds (`.5`, up to 9 digits) and an optional zone (`Z`, or an offset
/// `+02:00` / `-05:30`; UTC without one).
///
/// Foundation's `ISO8601DateFormatter` is lenient where a lender's data must not be: it reads
/// `2026-02-30` as 2 March, `2026-01-01T25:00:00Z` as the next day, and a date followed by
/// anything (`2026-01-01xyz`) as that date. Every field here is range-checked (months 01–12,
/// days within the month, leap years included; hours 00–23, minutes and seconds 00–59,
/// offsets up to ±23:59) and nothing may follow the value.
public enum ISO8601Time {
    /// Why a text is not an accepted date or date-time.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var problem: String
        public var description: String { problem }
    }

    /// The instant `text` names.
    ///
    /// - Throws: ``Invalid`` saying what is wrong (the form, or which field is out of range).
    /// - Complexity: O(length); allocates nothing beyond the text's bytes.
    public static func parse(_ text: String) throws(Invalid) -> Date {
        let bytes = Array(text.utf8)
        var index = 0
        func digits(_ count: Int, _ name: String) throws(Invalid) -> Int {
            guard index + count <= bytes.count else { throw Invalid(problem: "the text ends where the \(name) (\(count) digits) was expected") }
            var value = 0
            for byte in bytes[index..<(index + count)] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                    throw Invalid(problem: "the \(name) must be \(count) digits")
                }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
        func expect(_ character: Character, before name: String) throws(Invalid) {
            guard index < bytes.count, bytes[index] == character.asciiValue else {
                throw Invalid(problem: "expected '\(character)' before the \(name)")
            }
            index += 1
        }
        let year = try digits(4, "year")
        try expect("-", before: "month")
        let month = try digits(2, "month")
        try expect("-", before: "day")
        let day = try digits(2, "day")
        guard (1...12).contains(month) else { throw Invalid(problem: "month \(month) is not 01 to 12") }
        let monthDays = daysInMonth(year: year, month: month)
        guard (1...monthDays).contains(day) else {
            throw Invalid(problem: "day \(day) is not in \(String(format: "%04d-%02d", year, month)) (\(monthDays) days)")
        }
        var seconds = Double(daysFromCivil(year: year, month: month, day: day)) * 86_400
        guard index < bytes.count else { return Date(timeIntervalSince1970: seconds) }
        guard bytes[index] == UInt8(ascii: "T") else {
            throw Invalid(problem: "unexpected text after the date (a date-time continues with 'T', e.g. 2026-01-31T12:00:00Z)")
        }
        index += 1
        let hour = try digits(2, "hour")
        try expect(":", before: "minute")
        let minute = try digits(2, "minute")
        try expect(":", before: "second")
        let second = try digits(2, "second")
        guard hour <= 23 else { throw Invalid(problem: "hour \(hour) is not 00 to 23") }
        guard minute <= 59 else { throw Invalid(problem: "minute \(minute) is not 00 to 59") }
        guard second <= 59 else { throw Invalid(problem: "second \(second) is not 00 to 59") }
        seconds += Double(hour * 3600 + minute * 60 + second)
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",") {
            index += 1
            var fraction = 0.0, scale = 0.1, count = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                count += 1
                guard count <= 9 else { throw Invalid(problem: "more than 9 digits of fractional seconds") }
                fraction += Double(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            guard count > 0 else { throw Invalid(problem: "no digits after the decimal point of the seconds") }
            seconds += fraction
        }
        guard index < bytes.count else { return Date(timeIntervalSince1970: seconds) }
        switch bytes[index] {
        case UInt8(ascii: "Z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = bytes[index] == UInt8(ascii: "+") ? 1.0 : -1.0
            index += 1
            let offsetHours = try digits(2, "offset's hours")
            try expect(":", before: "offset's minutes")
            let offsetMinutes = try digits(2, "offset's minutes")
            guard offsetHours <= 23, offsetMinutes <= 59 else {
                throw Invalid(problem: "offset \(sign > 0 ? "+" : "-")\(String(format: "%02d:%02d", offsetHours, offsetMinutes)) is not within ±23:59")
            }
            seconds -= sign * Double(offsetHours * 3600 + offsetMinutes * 60)
        default:
            throw Invalid(problem: "unexpected text after the time (a zone is 'Z' or an offset such as +02:00)")
        }
        guard index == bytes.count else { throw Invalid(problem: "unexpected text after the zone") }
        return Date(timeIntervalSince1970: seconds)
    }

    /// Days in `month` (1–12) of `year`, in the proleptic Gregorian calendar.
    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a valid date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
