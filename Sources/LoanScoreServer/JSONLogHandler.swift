import LoanScoreFeatures
public import Logging
import Foundation

/// How `loanscored` writes its log (`log_format`, `--log-format`).
public enum LogFormat: String, ConfigurationChoice {
    /// swift-log's readable text lines (the default).
    case text
    /// One JSON object per line (``JSONLogHandler``), for ELK or Loki pipelines.
    case json
}

/// A swift-log handler that writes one JSON object per line: `timestamp` (ISO 8601, UTC,
/// milliseconds), `level`, `message`, `label`, `source`, then every metadata key (the server
/// sets `connection`, `peer`, `client`, `request_id`, `model_version` and `code` where they
/// apply). Strings are escaped as JSON requires (quotes, backslashes, control characters), so
/// a message with newlines stays on its line and every line parses.
public struct JSONLogHandler: LogHandler {
    /// The lowest level written (`--log-level`).
    public var logLevel: Logger.Level = .info
    /// Metadata on every line of this handler's logger (`logger[metadataKey:]`).
    public var metadata: Logger.Metadata = [:]
    /// Metadata added to every line from the task's context, if any.
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public static func standardError(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label) { line in
            // One write(2) per line, so lines from several threads never interleave.
            var line = line
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Foundation.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    /// - Parameter write: receives each line, newline included.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    /// One key of ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line: the fixed keys, then the handler's, the provider's and the event's
    /// metadata (later ones win), keys sorted, and the event's error (`error`) if any.
    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        var text = "{\"timestamp\":" + JSONText.quoted(Self.timestamp(Date())) + ",\"level\":" + JSONText.quoted(event.level.rawValue)
            + ",\"message\":" + JSONText.quoted(event.message.description) + ",\"label\":" + JSONText.quoted(label)
            + ",\"source\":" + JSONText.quoted(event.source)
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["timestamp", "level", "message", "label", "source"].contains(key) {
            text += "," + JSONText.quoted(key) + ":" + Self.json(value)
        }
        write(text + "}\n")
    }

    /// A metadata value as JSON: strings (and string-convertibles) quoted, arrays and
    /// dictionaries as JSON arrays and objects.
    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): return JSONText.quoted(string)
        case .stringConvertible(let convertible): return JSONText.quoted(convertible.description)
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.sorted(by: { $0.key < $1.key }).map { JSONText.quoted($0.key) + ":" + json($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// ISO 8601 in UTC with milliseconds: `2026-12-03T19:30:00.123Z`.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        let milliseconds = Int((date.timeIntervalSince1970 - Double(seconds)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(min(999, milliseconds)), 3))Z"
    }
}
