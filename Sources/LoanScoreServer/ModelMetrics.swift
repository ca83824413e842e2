import LoanScoreFeatures
import LoanScoreProtocol
public import LoanScoreModel
public import Prometheus

/// The metrics of one model of a generation, labelled with its `model_version` and `role`
/// (champion, or the challenger beside it): decisions, the PD histogram, approved exposure and
/// the expected loss of approved applications.
///
/// Made when a bundle loads (``ModelGeneration``) and unregistered from the registry when a
/// reload retires the generation (``retire(keeping:)``), so a retired version's series leave
/// the scrape. A reload of the same version gets the same series back from the registry (its
/// counters continue), and retiring the old generation then leaves them in place.
///
/// The drift monitor adds its per-version gauges the same way: make them from
/// ``registry`` with a ``MetricsCatalog`` family and ``modelVersion``, keep them with the
/// generation, and unregister them when it retires.
public final class ModelMetrics: Sendable {
    /// The registry the handles live in.
    public let registry: PrometheusCollectorRegistry
    /// The `model_version` label value.
    public let modelVersion: String
    /// The `role` label value.
    public let role: ModelRole
    /// Loss given default: the manifest's `cutoffs.lgd`, else 0.45.
    public let lgd: Double
    /// `loanscore_decisions_total{decision,model_version}`, indexed like ``Decision``'s cases
    /// (approve, review, decline).
    let approved: Counter, reviewed: Counter, declined: Counter
    let pd: ValueHistogram
    /// Present only when the schema marks an exposure field.
    let approvedExposure: Counter?
    let approvedExpectedLoss: Counter
    /// The exposure field's slot (its schema index: ``FeaturePipeline``'s slot `i` is field
    /// `i`'s parsed value), or `nil` without one (exposure 1: expected loss is then PD × LGD).
    let exposureSlot: Int?
    /// Slots per application (``FeaturePipeline/slotCount``).
    let slotCount: Int

    /// The LGD a bundle declares (`cutoffs.lgd`), else 0.45.
    public static func lgd(of manifest: Manifest) -> Double {
        if case .object(let cutoffs)? = manifest.cutoffs, case .number(let lgd)? = cutoffs["lgd"], lgd.isFinite, lgd >= 0 {
            return lgd
        }
        return 0.45
    }

    /// Makes (or finds) the series of `bundle`'s model in `registry`, labelled with its
    /// version and `role` (the champion's by default; a challenger's with `.challenger`).
    public init(bundle: ModelBundle, registry: PrometheusCollectorRegistry, role: ModelRole = .champion) {
        typealias M = MetricsCatalog
        self.registry = registry
        self.role = role
        let version = bundle.manifest.model.version, label = role.rawValue
        modelVersion = version
        lgd = Self.lgd(of: bundle.manifest)
        approved = registry.makeCounter(M.decisions, Decision.approve.rawValue, version, label)
        reviewed = registry.makeCounter(M.decisions, Decision.review.rawValue, version, label)
        declined = registry.makeCounter(M.decisions, Decision.decline.rawValue, version, label)
        pd = registry.makeValueHistogram(M.pd, buckets: ServerMetrics.pdBuckets, version, label)
        approvedExpectedLoss = registry.makeCounter(M.approvedExpectedLoss, version, label)
        let schema = bundle.schema
        exposureSlot = schema.fields.firstIndex { $0.exposure == true }
        approvedExposure = exposureSlot == nil ? nil : registry.makeCounter(M.approvedExposure, version, label)
        slotCount = bundle.pipeline.slotCount
    }

    /// Records one scored request: one update per series, whatever the batch size.
    ///
    /// - Parameter workspace: a workspace that ``ScoringEngine/score(_:)`` has scored.
    func record(_ workspace: RequestWorkspace) {
        record(scores: workspace.scores, slots: workspace.slots)
    }

    /// Records the rows of one model's scores (the challenger's buffers, or the champion's).
    func record(scores: ScoreBatch, slots: [Double]) {
        var approvals = 0, reviews = 0, declines = 0
        var exposureSum = 0.0, lossSum = 0.0
        for row in 0..<scores.rows {
            let probability = scores.pd[row]
            pd.record(probability)
            switch scores.decision[row] {
            case .review: reviews += 1
            case .decline: declines += 1
            case .approve:
                approvals += 1
                let amount = exposureSlot.map { slots[row * slotCount + $0] } ?? 1
                // A missing exposure (nullable field) adds nothing rather than poisoning the sums.
                guard amount.isFinite else { continue }
                exposureSum += amount
                lossSum += probability * lgd * amount
            }
        }
        if approvals > 0 { approved.increment(by: Int64(approvals)) }
        if reviews > 0 { reviewed.increment(by: Int64(reviews)) }
        if declines > 0 { declined.increment(by: Int64(declines)) }
        if exposureSum != 0 { approvedExposure?.increment(by: exposureSum) }
        if lossSum != 0 { approvedExpectedLoss.increment(by: lossSum) }
    }

    /// Every handle of this generation.
    var handles: [AnyObject] {
        [approved, reviewed, declined, pd, approvedExpectedLoss] + (approvedExposure.map { [$0] } ?? [])
    }

    /// Removes this generation's series from the registry, except those `successor` shares
    /// (same model version: the registry handed it the same handles).
    public func retire(keeping successor: ModelMetrics?) {
        retire(keeping: successor?.handles ?? [])
    }

    /// Removes this model's series from the registry, except the handles in `kept`.
    func retire(keeping kept: [AnyObject]) {
        registry.unregister(handles, keeping: kept)
    }
}
