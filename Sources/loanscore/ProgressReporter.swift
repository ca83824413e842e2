import Foundation

/// Progress of long work on standard error — how much is done, the rate, and the time left —
/// redrawn in place on one line, and only when standard error is a terminal: when it is a
/// file or a pipe nothing is written at all, so logs and scripts see only the command's own
/// messages.
///
/// The first line appears after `delay` (a short run prints nothing), then at most every
/// `interval`; ``finish()`` erases it, so the command's summary follows on a clean line.
/// Progress is measured in bytes of the input against its total (a file's size, or the
/// audit log's segment files), which is known before the work starts, unlike a row count.
final class ProgressReporter {
    /// Whether anything is drawn (standard error is a terminal).
    let isEnabled: Bool
    private let label: String
    private var totalBytes: Int64
    private let itemName: String?
    private let write: (String) -> Void
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let interval: Duration
    private var nextDraw: ContinuousClock.Instant
    private var drawn = false

    /// - Parameters:
    ///   - label: what is being done, e.g. `scoring applications.csv`.
    ///   - totalBytes: the size of the whole input (or 0, and given to each update).
    ///   - itemName: what ``update(bytes:items:)``'s `items` counts (`rows`), for a second rate.
    ///   - isTerminal: whether standard error is a terminal (default: `isatty(2)`).
    ///   - delay: how long the work runs before the first line is drawn.
    ///   - interval: the least time between two redraws.
    ///   - write: where the text goes (default: standard error, unbuffered).
    init(label: String, totalBytes: Int64, itemName: String? = nil, isTerminal: Bool = isatty(STDERR_FILENO) == 1,
         delay: Duration = .seconds(1), interval: Duration = .milliseconds(500),
         write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.totalBytes = max(totalBytes, 0)
        self.itemName = itemName
        self.isEnabled = isTerminal
        self.write = write
        self.interval = interval
        start = clock.now
        nextDraw = start + delay
    }

    /// The size of the file at `path`, or 0 when it cannot be read.
    static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// Reports `bytes` of the input done (and `items` processed, when counted; `totalBytes` when
    /// only the work itself learns it); cheap enough to call for every row: it draws only when
    /// the interval has passed.
    func update(bytes: Int64, totalBytes: Int64? = nil, items: Int? = nil) {
        guard isEnabled else { return }
        if let totalBytes { self.totalBytes = max(totalBytes, 0) }
        let now = clock.now
        guard now >= nextDraw else { return }
        nextDraw = now + interval
        write("\r" + Self.line(label: label, bytes: bytes, totalBytes: self.totalBytes, items: items.map { ($0, itemName ?? "items") },
                               elapsed: now - start) + "\u{1B}[K")
        drawn = true
    }

    /// Erases the progress line, if one was drawn.
    func finish() {
        if drawn { write("\r\u{1B}[K") }
        drawn = false
    }

    /// `scoring a.csv: 45% of 707 MB, 23.4 MB/s, 81,000 rows/s, about 13 s left`.
    static func line(label: String, bytes: Int64, totalBytes: Int64, items: (count: Int, name: String)?, elapsed: Duration) -> String {
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-3)
        let done = min(bytes, totalBytes)
        var parts: [String] = []
        if totalBytes > 0 {
            parts.append("\(Int(Double(done) * 100 / Double(totalBytes)))% of \(byteCount(totalBytes))")
        } else {
            parts.append(byteCount(bytes))
        }
        let rate = Double(bytes) / seconds
        parts.append("\(byteCount(Int64(rate)))/s")
        if let items { parts.append("\(grouped(Int(Double(items.count) / seconds))) \(items.name)/s") }
        if totalBytes > 0, rate > 0 {
            parts.append("about \(duration(Double(totalBytes - done) / rate)) left")
        }
        return "\(label): " + parts.joined(separator: ", ")
    }

    /// Decimal units, three significant digits: `707 MB`, `23.4 MB`, `512 B`.
    static func byteCount(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(max(bytes, 0)), unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 || value >= 100 { return "\(Int(value.rounded())) \(units[unit])" }
        return String(format: value >= 10 ? "%.1f" : "%.2f", value) + " " + units[unit]
    }

    /// `42 s`, `3 min 20 s`, `2 h 05 min`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        return String(format: "%d h %02d min", total / 3600, (total % 3600) / 60)
    }

    /// `81,000`.
    static func grouped(_ number: Int) -> String {
        let digits = String(number)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return result
    }
}
