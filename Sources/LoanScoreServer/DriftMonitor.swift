import Foundation
import LoanScoreModel
import LoanScoreMonitoring
import NIOConcurrencyHelpers
import Prometheus

/// Drift tracking of one model generation: every scored application goes into a rolling
/// ``DriftWindow`` over the bundle's reference bins, and its anomalies (a value outside the
/// field's training range, or in a bin training never saw) are counted.
///
/// Made with the generation when its bundle has reference bins (and drift tracking is on);
/// its series are published on every scrape and leave the registry with the generation.
/// Series (deploy/METRICS.md): `loanscore_drift_psi{field,model_version}` (only while the
/// window holds applications), `loanscore_drift_window_applications{model_version}`,
/// `loanscore_approval_rate{model_version}` (only while the window holds applications),
/// `loanscore_reference_approval_rate{model_version}` and `loanscore_anomalies_total{field,kind}`.
final class DriftMonitor: Sendable {
    let window: DriftWindow
    private let registry: PrometheusCollectorRegistry
    private let windowApplications: Gauge
    private let referenceApprovalRate: Gauge
    /// `loanscore_anomalies_total{field,kind}` per slot and kind (`nil` for slots that are not
    /// input fields), made once: the workers only increment.
    private let anomalies: [[Counter]?]
    /// The series that exist only while the window holds applications: the PSI per field and
    /// the approval rate; made at the first scrape with traffic, removed when the window empties.
    private let live: NIOLockedValueBox<(psi: [Gauge], approvalRate: Gauge)?>

    /// A monitor for `bundle`, or `nil` when it has no reference bins.
    ///
    /// - Parameters:
    ///   - settings: the window's size and age bound.
    ///   - registry: where the series are made.
    init?(bundle: ModelBundle, settings: ServerConfiguration.Drift, registry: PrometheusCollectorRegistry) {
        guard let window = DriftWindow(bundle: bundle, capacity: settings.window, maxAge: settings.windowSeconds) else { return nil }
        typealias M = MetricsCatalog
        self.window = window
        self.registry = registry
        let version = window.modelVersion
        windowApplications = registry.makeGauge(M.driftWindowApplications, version)
        referenceApprovalRate = registry.makeGauge(M.referenceApprovalRate, version)
        referenceApprovalRate.set(window.bins.reference.approvalRate)
        let fields = window.bins.reference.fields
        anomalies = (0..<window.bins.slotCount).map { slot in
            guard fields[slot].source == .input else { return nil }
            return AnomalyKind.allCases.map { registry.makeCounter(M.anomalies, fields[slot].name, $0.rawValue) }
        }
        live = NIOLockedValueBox(nil)
    }

    /// Adds a scored request's accepted applications to the window and counts their
    /// anomalies (one increment per field and kind that occurred, not per application).
    ///
    /// - Parameter workspace: a workspace ``ScoringEngine/score(_:)`` has scored (its `slots`
    ///   filled).
    /// - Complexity: O(applications × fields × log edges); allocates only for the per-request
    ///   tally (fields × 2 integers, on the stack).
    func record(_ workspace: RequestWorkspace) {
        let rows = workspace.scores.rows, width = window.bins.slotCount
        guard rows > 0 else { return }
        workspace.slots.withUnsafeBufferPointer { slots in
            workspace.scores.pd.withUnsafeBufferPointer { pds in
                window.add(slots: slots, pds: pds, rows: rows)
            }
            withUnsafeTemporaryAllocation(of: Int.self, capacity: width * 2) { tally in
                tally.initialize(repeating: 0)
                for row in 0..<rows {
                    let application = UnsafeBufferPointer(rebasing: slots[(row * width)..<((row + 1) * width)])
                    // Index k of AnomalyKind.allCases, as the counters are made.
                    window.bins.forEachAnomaly(slots: application) { field, kind in
                        tally[field * 2 + (kind == .outOfRange ? 0 : 1)] += 1
                    }
                }
                for field in 0..<width {
                    guard let counters = anomalies[field] else { continue }
                    for (k, counter) in counters.enumerated() where tally[field * 2 + k] > 0 {
                        counter.increment(by: Int64(tally[field * 2 + k]))
                    }
                }
            }
        }
    }

    /// The window's report, or `nil` while it is empty.
    func report() -> DriftReport? { window.report() }

    /// Publishes the window's figures (called on every scrape). O(bins).
    func publish() {
        let report = window.report()
        windowApplications.set(Int64(report?.applications ?? 0))
        live.withLockedValue { live in
            guard let report, let rate = window.approvalRate else {
                // Empty (aged out): a PSI of no applications is not zero, it is absent.
                if let gauges = live {
                    registry.unregister(gauges.psi + [gauges.approvalRate])
                    live = nil
                }
                return
            }
            if live == nil {
                live = (report.fields.map { registry.makeGauge(MetricsCatalog.driftPSI, $0.field, window.modelVersion) },
                        registry.makeGauge(MetricsCatalog.approvalRate, window.modelVersion))
            }
            guard let gauges = live else { return }
            for (gauge, field) in zip(gauges.psi, report.fields) { gauge.set(field.psi) }
            gauges.approvalRate.set(rate)
        }
    }

    /// Every series of this monitor.
    var handles: [AnyObject] {
        let liveHandles: [AnyObject] = live.withLockedValue { live in live.map { $0.psi + [$0.approvalRate] } ?? [] }
        return [windowApplications, referenceApprovalRate] + anomalies.compactMap { $0 }.flatMap { $0 } + liveHandles
    }
}
