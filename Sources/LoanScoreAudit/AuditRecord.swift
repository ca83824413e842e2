public import Foundation
import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One scoring decision as the audit log keeps it.
///
/// Encoded as one compact JSON object with sorted keys:
/// `application_id`, `client`, `decision`, `input_sha256`, `model`, `model_version`, `pd`,
/// `reasons`, `request_id`, `risk_level`, `seq`, `time` (see ``CodingKeys``), and, only when
/// the server ran a challenger beside the champion, `role` (which of the two decided) and, in
/// shadow mode, `shadow` (the challenger's verdict on the same application, see ``Shadow``).
/// Records without those keys (every record of a server without a challenger) read back with
/// `role` and `shadow` nil. `time` is UTC,
/// ISO-8601 with milliseconds (`2026-01-31T12:00:00.123Z`); ``time`` keeps whole milliseconds
/// so that a record reads back equal to what was written.
public struct AuditRecord: Codable, Sendable, Equatable {
    /// Position in the log, from 1, gap-free; assigned by ``AuditLog`` (whatever it was before).
    public var sequence: UInt64
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var timeMilliseconds: Int64
    /// The protocol request that carried the application.
    public var requestID: UInt64
    /// The application's id (the schema's id column).
    public var applicationID: String
    /// The bundle's model name.
    public var modelName: String
    /// The bundle's model version.
    public var modelVersion: String
    /// Lower-case hex SHA-256 of the raw input values' canonical form; see ``inputHash(values:)``.
    public var inputHash: String
    /// Probability of default, 0...1.
    public var pd: Double
    /// `approve`, `review` or `decline`.
    public var decision: String
    /// The policy's risk level name.
    public var riskLevel: String
    /// Reason codes, most important first.
    public var reasonCodes: [String]
    /// The certificate subject under mutual TLS, else the peer address; `nil` when unknown.
    public var client: String?
    /// `champion` or `challenger`: which model decided this application (the record's model,
    /// PD, decision, risk level and reasons are that model's); `nil` when the server ran no
    /// challenger.
    public var role: String?
    /// In shadow mode, the challenger's verdict on the same application (it decided nothing:
    /// the answer was the champion's); `nil` otherwise.
    public var shadow: Shadow?

    /// A shadow challenger's verdict on an application the champion decided.
    ///
    /// Encoded as `{"decision", "model_version", "pd", "risk_level"}` (sorted keys).
    public struct Shadow: Codable, Sendable, Equatable {
        /// The challenger bundle's model version.
        public var modelVersion: String
        /// The challenger's probability of default, 0...1.
        public var pd: Double
        /// The challenger's decision: `approve`, `review` or `decline`.
        public var decision: String
        /// The challenger's risk level name.
        public var riskLevel: String

        /// A challenger's verdict.
        public init(modelVersion: String, pd: Double, decision: String, riskLevel: String) {
            self.modelVersion = modelVersion
            self.pd = pd
            self.decision = decision
            self.riskLevel = riskLevel
        }

        public enum CodingKeys: String, CodingKey {
            case modelVersion = "model_version", pd, decision, riskLevel = "risk_level"
        }
    }

    public init(
        sequence: UInt64 = 0, time: Date = Date(), requestID: UInt64, applicationID: String,
        modelName: String, modelVersion: String, inputHash: String, pd: Double, decision: String,
        riskLevel: String, reasonCodes: [String], client: String?, role: String? = nil, shadow: Shadow? = nil
    ) {
        self.sequence = sequence
        self.timeMilliseconds = Self.milliseconds(time)
        self.requestID = requestID
        self.applicationID = applicationID
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.inputHash = inputHash
        self.pd = pd
        self.decision = decision
        self.riskLevel = riskLevel
        self.reasonCodes = reasonCodes
        self.client = client
        self.role = role
        self.shadow = shadow
    }

    /// The decision time, UTC, to the millisecond (setting it drops sub-millisecond digits).
    public var time: Date {
        get { Date(timeIntervalSince1970: Double(timeMilliseconds) / 1000) }
        set { timeMilliseconds = Self.milliseconds(newValue) }
    }

    /// ``time`` as ISO-8601 UTC with milliseconds, e.g. `2026-01-31T12:00:00.123Z`.
    public var timeText: String { Self.formatTime(milliseconds: timeMilliseconds) }

    public enum CodingKeys: String, CodingKey {
        case sequence = "seq", time, requestID = "request_id", applicationID = "application_id"
        case modelName = "model", modelVersion = "model_version", inputHash = "input_sha256", pd, decision
        case riskLevel = "risk_level", reasonCodes = "reasons", client, role, shadow
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sequence = try c.decode(UInt64.self, forKey: .sequence)
        let text = try c.decode(String.self, forKey: .time)
        guard let ms = Self.parseTime(text) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "not ISO-8601 UTC with milliseconds: \(text)")
        }
        timeMilliseconds = ms
        requestID = try c.decode(UInt64.self, forKey: .requestID)
        applicationID = try c.decode(String.self, forKey: .applicationID)
        modelName = try c.decode(String.self, forKey: .modelName)
        modelVersion = try c.decode(String.self, forKey: .modelVersion)
        inputHash = try c.decode(String.self, forKey: .inputHash)
        pd = try c.decode(Double.self, forKey: .pd)
        decision = try c.decode(String.self, forKey: .decision)
        riskLevel = try c.decode(String.self, forKey: .riskLevel)
        reasonCodes = try c.decode([String].self, forKey: .reasonCodes)
        client = try c.decodeIfPresent(String.self, forKey: .client)
        role = try c.decodeIfPresent(String.self, forKey: .role)
        shadow = try c.decodeIfPresent(Shadow.self, forKey: .shadow)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        guard Self.writableTimes.contains(timeMilliseconds) else {
            throw EncodingError.invalidValue(timeMilliseconds, .init(codingPath: [CodingKeys.time],
                                                                     debugDescription: "a time outside the years 0000-9999"))
        }
        try c.encode(sequence, forKey: .sequence)
        try c.encode(timeText, forKey: .time)
        try c.encode(requestID, forKey: .requestID)
        try c.encode(applicationID, forKey: .applicationID)
        try c.encode(modelName, forKey: .modelName)
        try c.encode(modelVersion, forKey: .modelVersion)
        try c.encode(inputHash, forKey: .inputHash)
        try c.encode(pd, forKey: .pd)
        try c.encode(decision, forKey: .decision)
        try c.encode(riskLevel, forKey: .riskLevel)
        try c.encode(reasonCodes, forKey: .reasonCodes)
        try c.encode(client, forKey: .client)  // explicit null: the key is always present
        try c.encodeIfPresent(role, forKey: .role)
        try c.encodeIfPresent(shadow, forKey: .shadow)
    }

    /// The hash that ties a record to its exact input: the one definition of its canonical
    /// form, used by the server for every record and by anyone who checks a record against an
    /// application (tests, `loanscore` tools, a partner's own audit).
    ///
    /// Lower-case hex SHA-256 over, for each of the application's values in schema order (the
    /// champion's schema: every field the client sent, whichever model decided), its canonical
    /// text's UTF-8 byte count as a big-endian u32 followed by those bytes. Length prefixes make
    /// the encoding unambiguous (`["ab", "c"]` and `["a", "bc"]` differ). The canonical text
    /// (``InputValue/canonicalText``):
    ///
    /// - missing (absent, JSON `null`, a clear presence bit on the wire): `(missing)`;
    /// - text: exactly as received (not trimmed, not case-folded; a category level or a
    ///   boolean label as the client wrote it);
    /// - a number: whole numbers below 10^15 in magnitude as integer digits (`1200`, `-5`),
    ///   any other as Swift's shortest round-trip text (`0.25`, `1000000000000000.0`, `1e+16`, `nan`);
    /// - a typed boolean: `true` or `false`.
    ///
    /// The same texts as `RawValue.display` in LoanScoreFeatures (what error messages show).
    /// In Python, with `values` the canonical texts:
    /// `sha256(b"".join(len(v).to_bytes(4, "big") + v for v in values)).hexdigest()`.
    ///
    /// - Parameter values: The application's values, in schema order.
    /// - Complexity: O(total bytes).
    public static func inputHash(values: [InputValue]) -> String {
        var hasher = InputHasher()
        for value in values { hasher.append(value) }
        return hasher.finalize()
    }

    /// ``inputHash(values:)`` for values already in their canonical text
    /// (``InputValue/canonicalText``; `(missing)` for a missing one).
    ///
    /// - Parameter fields: Each value's canonical text, in schema order.
    /// - Complexity: O(total bytes).
    public static func inputHash(fields: [String]) -> String {
        var hasher = InputHasher()
        for field in fields { hasher.append(field) }
        return hasher.finalize()
    }

    /// One application value as the input hash reads it (see ``inputHash(values:)``).
    public enum InputValue: Sendable, Equatable {
        /// Absent, JSON `null`, or not present on the wire.
        case missing
        /// Text as received.
        case text(String)
        /// A typed number (JSON, or a NUMBER on the wire).
        case number(Double)
        /// A typed boolean (JSON, or a BOOL on the wire).
        case bool(Bool)

        /// The text ``inputHash(values:)`` hashes for this value.
        public var canonicalText: String {
            switch self {
            case .missing: return InputHasher.missingText
            case .text(let text): return text
            case .number(let number): return InputHasher.wholeNumber(number).map { String($0) } ?? "\(number)"
            case .bool(let flag): return flag ? "true" : "false"
            }
        }
    }

    /// ``inputHash(values:)`` built value by value into a reused buffer, for a server that
    /// hashes every application it scores: one SHA-256 pass and one `String` (the hex digest)
    /// per application, no per-value arrays or Strings for typed values.
    public struct InputHasher: Sendable {
        private var bytes: [UInt8] = []

        /// An empty hasher; its buffer grows to the longest input and is kept.
        public init() {}

        /// The canonical text of a missing value.
        static let missingText = "(missing)"

        /// The integer a number's canonical text writes (finite, whole, below 10^15 in
        /// magnitude), or nil when it is written in shortest round-trip form.
        static func wholeNumber(_ value: Double) -> Int64? {
            value.isFinite && value == value.rounded() && abs(value) < 1e15 ? Int64(value) : nil
        }

        /// Appends one value in its canonical form. Allocates only for a number that is not
        /// whole (its round-trip text).
        public mutating func append(_ value: InputValue) {
            switch value {
            case .missing: appendMissing()
            case .text(let text): append(text)
            case .number(let number): append(number: number)
            case .bool(let flag): append(bool: flag)
            }
        }

        /// Appends a missing value (`(missing)`).
        public mutating func appendMissing() {
            append(Self.missingText)
        }

        /// Appends a typed number's canonical text (whole numbers without making a String).
        public mutating func append(number value: Double) {
            if let whole = Self.wholeNumber(value) {
                append(decimal: whole)
            } else {
                append("\(value)")
            }
        }

        /// Appends a typed boolean's canonical text.
        public mutating func append(bool flag: Bool) {
            append(flag ? "true" : "false")
        }

        /// Appends one value's canonical text.
        public mutating func append(_ text: String) {
            var text = text
            text.withUTF8 { append(utf8: $0) }
        }

        /// Appends one value's canonical text given as UTF-8 bytes.
        public mutating func append<Bytes: Collection>(utf8 text: Bytes) where Bytes.Element == UInt8 {
            if text.withContiguousStorageIfAvailable({ append(utf8: $0) }) == nil { append(utf8: Array(text)) }
        }

        /// ``append(utf8:)`` for contiguous bytes, not generic: called from another module, the
        /// generic form ran unspecialized, a witness-table call per byte (3 % of the server's CPU).
        public mutating func append(utf8 text: UnsafeBufferPointer<UInt8>) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: text.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: text)
        }

        /// ``append(utf8:)`` for a slice of a byte array (the server's request arena).
        public mutating func append(utf8 text: ArraySlice<UInt8>) {
            text.withUnsafeBufferPointer { append(utf8: $0) }
        }

        /// Appends an integer's decimal text (`String(value)`'s bytes) without making the String:
        /// the digits are written in place after a length prefix that is filled in afterwards.
        public mutating func append(decimal value: Int64) {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: 4))
            appendDecimal(value.magnitude, negative: value < 0, to: &bytes)
            let length = UInt32(truncatingIfNeeded: bytes.count - start - 4)  // 20 at most
            for i in 0..<4 { bytes[start + i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * UInt32(i))) }
        }

        /// The lower-case hex digest of the values appended since the last call; starts over.
        public mutating func finalize() -> String {
            defer { bytes.removeAll(keepingCapacity: true) }
            return SHA256.hash(data: bytes).withUnsafeBytes { hexadecimal($0) }
        }
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The times the four-digit year of ``formatTime(milliseconds:)`` can write: 0000-01-01
    /// through 9999-12-31, UTC (milliseconds since the epoch).
    static let writableTimes: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// `YYYY-MM-DDTHH:MM:SS.sssZ` for milliseconds since the epoch (UTC), for times in
    /// ``writableTimes`` (others are refused by the encoders before they get here).
    static func formatTime(milliseconds: Int64) -> String {
        var out: [UInt8] = []
        appendTime(milliseconds: milliseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends ``formatTime(milliseconds:)``'s 24 bytes to `out`, digit by digit (building the
    /// text from small Strings cost 4 % of the server's CPU at batch 256).
    static func appendTime(milliseconds: Int64, to out: inout [UInt8]) {
        let (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        var whole = time_t(millis < 0 ? seconds - 1 : seconds)
        var parts = tm()
        gmtime_r(&whole, &parts)  // thread-safe; fills `parts`
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value  // 0 ... 10^width - 1 for times in writableTimes
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(Int(millis < 0 ? millis + 1000 : millis), 3); out.append(UInt8(ascii: "Z"))
    }

    /// Parses exactly the form ``formatTime(milliseconds:)`` writes; `nil` otherwise.
    static func parseTime(_ text: String) -> Int64? {
        let chars = Array(text.utf8)
        guard chars.count == 24, chars[4] == UInt8(ascii: "-"), chars[7] == UInt8(ascii: "-"),
              chars[10] == UInt8(ascii: "T"), chars[13] == UInt8(ascii: ":"), chars[16] == UInt8(ascii: ":"),
              chars[19] == UInt8(ascii: "."), chars[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard chars[i] >= UInt8(ascii: "0"), chars[i] <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(chars[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              let millis = number(20..<23), (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second < 61
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)  // UTC inverse of gmtime_r
        return Int64(seconds) * 1000 + Int64(millis)
    }
}

/// Lower-case hexadecimal of bytes, without `String(format:)`: one allocation (the String's
/// storage, written in place) for a digest.
func hexadecimal<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    String(unsafeUninitializedCapacity: bytes.count * 2) { out in
        // `out` holds bytes.count × 2 code units (checked); each byte writes two of them.
        precondition(out.count >= bytes.count * 2, "String storage for the digits")
        var i = 0
        for byte in bytes {
            out[i] = hexDigit(byte >> 4)
            out[i + 1] = hexDigit(byte & 0x0F)
            i += 2
        }
        return i
    }
}

/// The ASCII digit of a value 0…15.
@inline(__always)
private func hexDigit(_ value: UInt8) -> UInt8 {
    value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
}

extension AuditRecord {
    /// The record as compact JSON with sorted keys, exactly the object ``encode(to:)`` describes,
    /// written directly (JSONEncoder cost more than scoring the application).
    ///
    /// - Throws: ``AuditError`` (`.encoding`) when the PD is not finite (JSON has no NaN) or the
    ///   time is outside the years 0000-9999.
    package func compactJSON() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        var time = TimeText()
        try appendJSON(sequence: sequence, time: &time, to: &out)
        return out
    }

    /// The text of the last time written, kept across the records of a batch (which share
    /// their time): formatting it costs a `gmtime_r` and 24 digit writes per record.
    struct TimeText {
        private var milliseconds: Int64?
        private var text: [UInt8] = []

        init() {}

        /// Appends ``AuditRecord/formatTime(milliseconds:)``'s bytes for `milliseconds`.
        mutating func append(_ milliseconds: Int64, to out: inout [UInt8]) {
            if milliseconds != self.milliseconds {
                text.removeAll(keepingCapacity: true)
                AuditRecord.appendTime(milliseconds: milliseconds, to: &text)
                self.milliseconds = milliseconds
            }
            out.append(contentsOf: text)
        }
    }

    /// Appends ``compactJSON()`` with `sequence` in place of ``sequence`` to `out`, growing it in
    /// place: the audit log writes a batch's frames into one buffer this way (a record's own
    /// arrays and Strings cost 12 % of the server's CPU at batch 256). `time` keeps the last
    /// time's text for the next record.
    ///
    /// - Throws: ``AuditError`` (`.encoding`), as ``compactJSON()``; `out` is then unchanged.
    func appendJSON(sequence: UInt64, time: inout TimeText, to out: inout [UInt8]) throws {
        guard pd.isFinite, shadow?.pd.isFinite ?? true else {
            throw AuditError(.encoding, "record \(sequence) (application \(applicationID)) has a non-finite PD")
        }
        guard Self.writableTimes.contains(timeMilliseconds) else {
            throw AuditError(.encoding, "record \(sequence) (application \(applicationID)) has a time outside the years 0000-9999")
        }
        func raw(_ text: StaticString) {
            text.withUTF8Buffer { out.append(contentsOf: $0) }
        }
        func string(_ text: String) {
            out.append(UInt8(ascii: "\""))
            var text = text
            text.withUTF8 { bytes in
                // Most values need no escaping: copy them whole.
                guard bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                    return out.append(contentsOf: bytes)
                }
                for byte in bytes {
                    switch byte {
                    case UInt8(ascii: "\""): raw("\\\"")
                    case UInt8(ascii: "\\"): raw("\\\\")
                    case 0x0A: raw("\\n")
                    case 0x0D: raw("\\r")
                    case 0x09: raw("\\t")
                    case 0..<0x20:
                        raw("\\u00")
                        out.append(hexDigit(byte >> 4))
                        out.append(hexDigit(byte & 0x0F))
                    default: out.append(byte)
                    }
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        raw("{\"application_id\":"); string(applicationID)
        raw(",\"client\":"); if let client { string(client) } else { raw("null") }
        raw(",\"decision\":"); string(decision)
        raw(",\"input_sha256\":"); string(inputHash)
        raw(",\"model\":"); string(modelName)
        raw(",\"model_version\":"); string(modelVersion)
        raw(",\"pd\":"); out.append(contentsOf: pd.description.utf8)
        raw(",\"reasons\":[")
        for (i, code) in reasonCodes.enumerated() {
            if i > 0 { raw(",") }
            string(code)
        }
        raw("],\"request_id\":"); appendDecimal(requestID, to: &out)
        raw(",\"risk_level\":"); string(riskLevel)
        if let role { raw(",\"role\":"); string(role) }
        raw(",\"seq\":"); appendDecimal(sequence, to: &out)
        if let shadow {
            raw(",\"shadow\":{\"decision\":"); string(shadow.decision)
            raw(",\"model_version\":"); string(shadow.modelVersion)
            raw(",\"pd\":"); out.append(contentsOf: shadow.pd.description.utf8)
            raw(",\"risk_level\":"); string(shadow.riskLevel)
            raw("}")
        }
        raw(",\"time\":\""); time.append(timeMilliseconds, to: &out); raw("\"")
        raw("}")
    }
}

/// Appends the decimal digits of `magnitude`, after a minus sign when `negative` (as
/// `String(value)` spells an integer), without a String.
func appendDecimal(_ magnitude: UInt64, negative: Bool = false, to out: inout [UInt8]) {
    if negative { out.append(UInt8(ascii: "-")) }
    var divisor: UInt64 = 1
    while magnitude / divisor >= 10 { divisor *= 10 }
    var rest = magnitude
    while divisor > 0 {
        out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
        rest %= divisor
        divisor /= 10
    }
}
