import CLoanScoreABI
import LoanScoreDecision
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring

/// What a `loanscore_result *` points at: one scored batch in flat, immutable columns whose
/// addresses never move (``StableBuffer``), so the pointers handed to C stay valid until
/// `loanscore_result_free`. Holds its bundle (for reason names and texts), so the bundle may be
/// closed first.
final class ResultHandle: @unchecked Sendable {
    let bundle: BundleHandle
    let count: Int
    let rejectedCount: Int
    let pd: StableBuffer<Double>
    let confidence: StableBuffer<Double>
    let status: StableBuffer<Int32>
    let decision: StableBuffer<Int32>
    /// Text columns by `LOANSCORE_RESULT_*` number.
    let texts: [Int32: TextColumn]
    /// Application i's reasons: `reasonFields/reasonContributions[i × 4 ..< i × 4 + reasonCounts[i]]`.
    let reasonFields: [Int]
    let reasonContributions: [Double]
    let reasonCounts: [Int]

    /// A text column: NUL-terminated values back to back, `count + 1` offsets.
    final class TextColumn {
        let offsets: StableBuffer<Int64>
        let data: StableBuffer<UInt8>
        let length: Int

        init(_ builder: TextBuilder) {
            offsets = StableBuffer(builder.offsets)
            data = StableBuffer(builder.data)
            length = builder.data.count
        }

        /// Value `i` as a C string.
        func string(_ i: Int) -> UnsafePointer<CChar> {
            UnsafeRawPointer(data.base + Int(offsets.pointer[i])).assumingMemoryBound(to: CChar.self)
        }
    }

    /// Accumulates a text column.
    struct TextBuilder {
        var offsets: [Int64] = [0]
        var data: [UInt8] = []

        mutating func append(_ text: String) {
            data.append(contentsOf: text.utf8)
            data.append(0)
            offsets.append(Int64(data.count))
        }

        mutating func reserve(_ rows: Int) { offsets.reserveCapacity(rows + 1) }
    }

    /// Scores every application of `columns` with `bundle` — the CLI's path: each application
    /// validated and encoded by the bundle's ``FeaturePipeline``, the accepted ones scored by
    /// its ``EnsembleScorer`` with reason codes, flags as `loanscore score` writes them
    /// (values treated as missing, then the reference bins' anomalies).
    init(bundle: BundleHandle, columns: CColumns) {
        self.bundle = bundle
        let pipeline = bundle.bundle.pipeline, scorer = bundle.bundle.scorer, bins = bundle.referenceBins
        let rows = columns.applicationCount, slotWidth = pipeline.slotCount
        let maxReasons = EnsembleScorer.maximumReasons
        var pd = [Double](repeating: .nan, count: rows), confidence = [Double](repeating: .nan, count: rows)
        var status = [Int32](repeating: LOANSCORE_REJECTED, count: rows), decision = [Int32](repeating: -1, count: rows)
        var reasonFields = [Int](repeating: 0, count: rows * maxReasons)
        var reasonContributions = [Double](repeating: 0, count: rows * maxReasons)
        var reasonCounts = [Int](repeating: 0, count: rows)
        var decisionNames = TextBuilder(), riskLevels = TextBuilder(), reasons = TextBuilder(), reasonTexts = TextBuilder()
        var flags = TextBuilder(), rejections = TextBuilder(), rejectedFields = TextBuilder()
        decisionNames.reserve(rows)
        riskLevels.reserve(rows)
        var rejected = 0

        // Blocks bound the scratch (matrix, slots, contributions) whatever the batch's size;
        // results do not depend on the block size (EnsembleScorer).
        let blockSize = 1024
        var matrix: [Double] = [], slots: [Double] = [], outcomes: [FeaturePipeline.Outcome] = []
        var scores = ScoreBatch()
        for start in stride(from: 0, to: rows, by: blockSize) {
            let block = columns.block(start..<Swift.min(rows, start + blockSize))
            let accepted = bins == nil
                ? pipeline.encode(block, into: &matrix, outcomes: &outcomes)
                : pipeline.encode(block, into: &matrix, slots: &slots, outcomes: &outcomes)
            matrix.withUnsafeBufferPointer { scorer.score(batch: $0, rows: accepted, into: &scores) }
            var scored = 0
            for (offset, outcome) in outcomes.enumerated() {
                let i = start + offset
                switch outcome {
                case .accepted(var valueFlags):
                    if let bins {
                        valueFlags += slots.withUnsafeBufferPointer {
                            bins.anomalyFlags(slots: UnsafeBufferPointer(rebasing: $0[(scored * slotWidth)..<((scored + 1) * slotWidth)]))
                        }
                    }
                    let score = scorer.result(row: scored, of: scores)
                    scored += 1
                    pd[i] = score.pd
                    confidence[i] = score.confidence
                    status[i] = LOANSCORE_ACCEPTED
                    decision[i] = Int32(score.decision.wireValue)
                    for (rank, field) in scores.reasonFields(row: scored - 1).enumerated() {
                        reasonFields[i * maxReasons + rank] = field
                        reasonContributions[i * maxReasons + rank] = score.reasons[rank].contribution
                    }
                    reasonCounts[i] = Swift.min(score.reasons.count, maxReasons)
                    decisionNames.append(score.decision.rawValue)
                    riskLevels.append(score.riskLevel)
                    reasons.append(score.reasons.map(\.code).joined(separator: ";"))
                    reasonTexts.append(score.reasons.map(\.text).joined(separator: "; "))
                    flags.append(valueFlags.joined(separator: "; "))
                    rejections.append("")
                    rejectedFields.append("")
                case .rejected(let violations):
                    rejected += 1
                    decisionNames.append("")
                    riskLevels.append("")
                    reasons.append("")
                    reasonTexts.append("")
                    flags.append("")
                    rejections.append(violations.map(\.description).joined(separator: "; "))
                    rejectedFields.append(violations.first?.field ?? "")
                }
            }
        }
        count = rows
        rejectedCount = rejected
        self.pd = StableBuffer(pd)
        self.confidence = StableBuffer(confidence)
        self.status = StableBuffer(status)
        self.decision = StableBuffer(decision)
        self.reasonFields = reasonFields
        self.reasonContributions = reasonContributions
        self.reasonCounts = reasonCounts
        texts = [
            LOANSCORE_RESULT_DECISION_NAME: TextColumn(decisionNames),
            LOANSCORE_RESULT_RISK_LEVEL: TextColumn(riskLevels),
            LOANSCORE_RESULT_REASONS: TextColumn(reasons),
            LOANSCORE_RESULT_REASON_TEXTS: TextColumn(reasonTexts),
            LOANSCORE_RESULT_FLAGS: TextColumn(flags),
            LOANSCORE_RESULT_REJECTION: TextColumn(rejections),
            LOANSCORE_RESULT_REJECTED_FIELD: TextColumn(rejectedFields),
        ]
    }
}
