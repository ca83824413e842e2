import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring
import LoanScoreTestSupport
import Synchronization
import Testing

/// Binning, anomalies, the rolling window and the report, on TinyBundle's hand-made reference
/// (TinyBundleReference.swift): slots amount, income, home, records, term, amount_to_income, then pd.
@Suite("Drift: bins, window, report")
struct DriftTests {
    static let bundle: ModelBundle = {
        let directory = try! TinyBundle.temporaryDirectory()
        try! TinyBundle.writeWithReference(to: directory)
        return try! ModelBundle(directory: directory)
    }()
    static var reference: ReferenceProfile { bundle.reference! }
    static let bins = ReferenceBins(reference: reference)

    @Test("number bins: count of edges strictly less than x", arguments: [
        (400.0, 0), (500, 0), (500.000001, 1), (1000, 1), (1001, 2), (-1e300, 0), (1e300, 2), (Double.infinity, 2), (Double.nan, 3),
    ])
    func numberBins(_ value: Double, _ bin: Int) {
        #expect(Self.bins.bin(field: 0, value: value) == bin)
    }

    @Test func categoryBooleanZeroEdgeAndPDBins() {
        let bins = Self.bins
        #expect(bins.bin(field: 2, value: 0) == 0 && bins.bin(field: 2, value: 1) == 1 && bins.bin(field: 2, value: .nan) == 2)
        #expect(bins.bin(field: 2, value: 2) == 2, "not a level index: missing")
        #expect(bins.bin(field: 3, value: 0) == 0 && bins.bin(field: 3, value: 1) == 1 && bins.bin(field: 3, value: .nan) == 2)
        // term: no edges, one value bin.
        #expect(bins.bin(field: 4, value: -5) == 0 && bins.bin(field: 4, value: 1e9) == 0 && bins.bin(field: 4, value: .nan) == 1)
        #expect(bins.bin(field: 6, value: 0.1) == 0 && bins.bin(field: 6, value: 0.25) == 2 && bins.bin(field: 6, value: 0.9) == 3)
        #expect(bins.totalBins == 4 + 4 + 3 + 3 + 2 + 3 + 5)
        #expect(bins.binOffset(field: 6) == 4 + 4 + 3 + 3 + 2 + 3)
    }

    @Test func labels() {
        let fields = Self.reference.fields
        #expect(fields[0].binLabels == ["(-inf, 500]", "(500, 1000]", "(1000, inf)", "missing"])
        #expect(fields[2].binLabels == ["rent", "own", "missing"])
        #expect(fields[3].binLabels == ["false", "true", "missing"])
        #expect(fields[4].binLabels == ["(-inf, inf)", "missing"])
        #expect(fields[6].binLabels == ["(-inf, 0.1]", "(0.1, 0.2]", "(0.2, 0.3]", "(0.3, inf)", "missing"])
        #expect(ReferenceField.label(1e16) == "1e+16" && ReferenceField.label(-2.5) == "-2.5")
    }

    func flags(_ slots: [Double]) -> [String] {
        slots.withUnsafeBufferPointer { Self.bins.anomalyFlags(slots: $0) }
    }

    @Test func anomalies() {
        #expect(flags([500, 1000, 0, 1, 12, 0.5]).isEmpty)
        // Below amount's training minimum and above income's maximum; the derived feature never flags.
        #expect(flags([50, 10_000, 0, 0, 12, 100]) == ["out_of_range:amount", "out_of_range:income"])
        // An unseen level (missing, share 0), a missing term (share 0), a missing income (share 0.1: fine).
        #expect(flags([500, .nan, .nan, 1, .nan, .nan]) == ["unseen_bin:home", "unseen_bin:term"])
        // term 24: outside [12, 12], in a bin with share 1.
        #expect(flags([500, 1000, 1, 1, 24, 0.5]) == ["out_of_range:term"])
    }

    /// A window over TinyBundle's reference with a settable clock.
    final class FakeClock: Sendable {
        let now = Mutex(0.0)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    }

    func window(capacity: Int = 10_000, maxAge: Double? = nil, clock: FakeClock = FakeClock()) -> DriftWindow {
        DriftWindow(reference: Self.reference, modelVersion: "test-1", approveBelow: 0.2, capacity: capacity, maxAge: maxAge,
                    clock: { clock.now.withLock { $0 } })
    }

    /// Adds applications: each its amount (other slots fixed) and PD.
    func add(_ window: DriftWindow, amounts: [Double], pds: [Double]) {
        let slots: [Double] = amounts.flatMap { amount -> [Double] in [amount, 1500, 0, 0, 12, amount / 1500] }
        slots.withUnsafeBufferPointer { slots in pds.withUnsafeBufferPointer { window.add(slots: slots, pds: $0, rows: amounts.count) } }
    }

    func liveAmountCounts(_ report: DriftReport) -> [Double] {
        report.fields[0].bins.map { $0.live * Double(report.applications) }
    }

    @Test func evictionByCount() throws {
        let window = window(capacity: 3)
        #expect(window.report() == nil, "empty: no traffic")
        add(window, amounts: [100, 600, 2000], pds: [0.05, 0.15, 0.5])
        #expect(try #require(window.report()).applications == 3)
        #expect(liveAmountCounts(try #require(window.report())) == [1, 1, 1, 0])
        #expect(window.approvalRate == 2.0 / 3.0)
        add(window, amounts: [3000, 4000], pds: [0.5, 0.5])  // evicts 100 and 600
        let report = try #require(window.report())
        #expect(report.applications == 3)
        #expect(liveAmountCounts(report) == [0, 0, 3, 0])
        #expect(window.approvalRate == 0)
        // A batch larger than the window keeps its last rows.
        add(window, amounts: [100, 200, 300, 400, 600], pds: [0, 0, 0, 0, 0])
        #expect(liveAmountCounts(try #require(window.report())) == [2, 1, 0, 0])
        #expect(window.applications == 3)
    }

    /// A window's memory follows the applications it holds, not its capacity: a capacity of
    /// 10^12 or `Int.max` (`loanscore drift --window`) once trapped allocating
    /// `capacity × fields` indices up front (SIGABRT, or SIGILL on the multiplication's overflow).
    @Test(arguments: [1_000_000_000_000, Int.max])
    func aHugeCapacityAllocatesOnlyWhatItHolds(capacity: Int) throws {
        let window = window(capacity: capacity)
        add(window, amounts: [100, 600, 2000], pds: [0.05, 0.15, 0.5])
        #expect(liveAmountCounts(try #require(window.report())) == [1, 1, 1, 0])
        #expect(window.applications == 3 && window.approvalRate == 2.0 / 3.0)
    }

    /// Growing the ring keeps the window's order: a window that grew, wrapped around and aged
    /// applications out still evicts the oldest first.
    @Test func growingAndWrappingKeepsTheOldestFirst() throws {
        let clock = FakeClock()
        let window = window(capacity: 1000, maxAge: 100, clock: clock)
        for step in 0..<30 {  // 30 batches of 50: grows, then wraps (1,500 added, 1,000 kept)
            add(window, amounts: Array(repeating: step < 10 ? 100 : 2000, count: 50), pds: Array(repeating: 0.05, count: 50))
            clock.advance(1)
        }
        #expect(liveAmountCounts(try #require(window.report())) == [0, 0, 1000, 0])
        clock.advance(85)  // batches added at t = 10 … 14 are now over 100 s old
        #expect(window.applications == 750)
        add(window, amounts: Array(repeating: 600, count: 300), pds: Array(repeating: 0.5, count: 300))
        #expect(liveAmountCounts(try #require(window.report())) == [0, 300, 700, 0])
        #expect(window.approvalRate == 0.7)
    }

    @Test func evictionByAge() throws {
        let clock = FakeClock()
        let window = window(maxAge: 60, clock: clock)
        add(window, amounts: [100], pds: [0.05])
        clock.advance(30)
        add(window, amounts: [600, 700], pds: [0.05, 0.05])
        #expect(window.applications == 3)
        clock.advance(30.5)  // the first is now 60.5 s old
        #expect(window.applications == 2)
        #expect(liveAmountCounts(try #require(window.report())) == [0, 2, 0, 0])
        clock.advance(60)
        #expect(window.report() == nil, "everything aged out")
        #expect(window.approvalRate == nil)
    }

    @Test func reportFiguresAndJSONShape() throws {
        let window = window()
        // amount bins 0, 0, 1, 2: live [0.5, 0.25, 0.25, 0] against [0.3, 0.4, 0.3, 0].
        add(window, amounts: [100, 200, 600, 2000], pds: [0.05, 0.15, 0.25, 0.35])
        let report = try #require(window.report())
        #expect(report.modelVersion == "test-1" && report.applications == 4)
        #expect(report.fields.map(\.field) == ["amount", "income", "home", "records", "term", "amount_to_income", "pd"])
        let e = 0.0001
        let amountPSI = (0.5 - 0.3) * log(0.5 / 0.3) + (0.25 - 0.4) * log(0.25 / 0.4) + (0.25 - 0.3) * log(0.25 / 0.3) + (e - e) * 0
        #expect(abs(report.fields[0].psi - amountPSI) < 1e-15)
        // PD: one per bin, exactly the reference: 0.
        #expect(report.fields[6].psi == 0 && report.fields[6].band == .stable)
        // income: all 1500 → bin 1: live [0, 1, 0, 0] vs [0.3, 0.3, 0.3, 0.1].
        let incomePSI = 2 * (e - 0.3) * log(e / 0.3) + (1 - 0.3) * log(1 / 0.3) + (e - 0.1) * log(e / 0.1)
        #expect(abs(report.fields[1].psi - incomePSI) < 1e-12)
        #expect(report.fields[1].band == .significant)

        let json = String(decoding: report.json(), as: UTF8.self)
        #expect(json.hasPrefix("{\"model_version\":\"test-1\",\"applications\":4,\"fields\":[{\"field\":\"amount\",\"psi\":"), "\(json)")
        #expect(json.contains("\"band\":\"moderate\",\"bins\":[{\"label\":\"(-inf, 500]\",\"reference\":0.3,\"live\":0.5},"), "\(json)")
        #expect(json.hasSuffix("{\"label\":\"missing\",\"reference\":0,\"live\":0}]}]}"), "\(json)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["model_version", "applications", "fields"])
        #expect(try JSONDecoder().decode(DriftReport.self, from: Data(json.utf8)) == report)
    }

    @Test func jsonEscapesLabelsAndRoundTrips() throws {
        let text = #"{"model_version":"v\"1","applications":2,"fields":[{"field":"home","psi":0.5,"band":"significant","bins":[{"label":"a \"quoted\" \\ level\n\u0001","reference":0.25,"live":1e-05}]}]}"#
        let report = try JSONDecoder().decode(DriftReport.self, from: Data(text.utf8))
        #expect(report.fields[0].bins[0].label == "a \"quoted\" \\ level\n\u{1}")
        #expect(String(decoding: report.json(), as: UTF8.self) == text)
        #expect(try JSONDecoder().decode(DriftReport.self, from: report.json()) == report)
    }

    @Test func windowFedThroughThePipelineMatchesFeedingOneByOne() throws {
        let pipeline = Self.bundle.pipeline
        let rows: [[String]] = [["500", "1000", "own", "yes", "12"], ["2500", "", "flat", "no", "24"], ["50", "300", "rent", "no", "12"]]
        var slots: [Double] = []
        for row in rows {
            var features = [Double](repeating: .nan, count: pipeline.featureNames.count)
            var one = [Double](repeating: .nan, count: pipeline.slotCount)
            _ = features.withUnsafeMutableBufferPointer { f in one.withUnsafeMutableBufferPointer { pipeline.encode(row.map { .text($0) }, into: f, slots: $0) } }
            slots += one
        }
        let pds = [0.1, 0.2, 0.3]
        let batch = window(), single = window()
        slots.withUnsafeBufferPointer { s in pds.withUnsafeBufferPointer { batch.add(slots: s, pds: $0, rows: 3) } }
        for r in 0..<3 {
            Array(slots[(r * 6)..<(r * 6 + 6)]).withUnsafeBufferPointer { s in [pds[r]].withUnsafeBufferPointer { single.add(slots: s, pds: $0, rows: 1) } }
        }
        #expect(batch.report() == single.report())
    }

    /// Many threads adding at once: every application is counted once.
    @Test func concurrentAdds() async throws {
        let window = window(capacity: 100_000)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<50 { self.add(window, amounts: Array(repeating: 600, count: 10), pds: Array(repeating: 0.1, count: 10)) } }
            }
        }
        let report = try #require(window.report())
        #expect(report.applications == 4000)
        #expect(liveAmountCounts(report) == [0, 4000, 0, 0])
    }
}
