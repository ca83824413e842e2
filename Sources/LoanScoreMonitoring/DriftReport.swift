import LoanScoreFeatures
public import Foundation
import LoanScoreModel

/// The drift of one model version's live traffic against its bundle's reference bins: the
/// body of the admin port's `GET /drift` and of `loanscore drift --json` (one shape, spec C):
///
/// ```json
/// {"model_version": "…", "applications": 1234,
///  "fields": [{"field": "Income", "psi": 0.0123, "band": "stable",
///              "bins": [{"label": "(-inf, 50]", "reference": 0.1, "live": 0.11}, …]}, …]}
/// ```
///
/// `fields` is in reference order (schema fields, derived features), the PD last as `pd`.
public struct DriftReport: Codable, Sendable, Equatable {
    /// The model version whose traffic this is.
    public var modelVersion: String
    /// Applications in the window.
    public var applications: Int
    /// One entry per reference field, the PD last.
    public var fields: [Field]

    enum CodingKeys: String, CodingKey {
        case modelVersion = "model_version", applications, fields
    }

    /// One field's stability index and bins.
    public struct Field: Codable, Sendable, Equatable {
        /// The field's name (`pd` for the PD).
        public var field: String
        /// ``StabilityIndex/psi(reference:live:)`` over the field's bins, missing bin included.
        public var psi: Double
        public var band: StabilityIndex.Band
        public var bins: [Bin]

        enum CodingKeys: String, CodingKey { case field, psi, band, bins }
    }

    /// One bin: its label (``ReferenceField/binLabels``), its training share and its live share.
    public struct Bin: Codable, Sendable, Equatable {
        public var label: String
        public var reference: Double
        public var live: Double

        enum CodingKeys: String, CodingKey { case label, reference, live }
    }

    /// A report from live counts.
    ///
    /// - Parameters:
    ///   - reference: the bundle's reference bins.
    ///   - modelVersion: the version named in the report.
    ///   - applications: applications counted (> 0): each field's counts sum to it.
    ///   - counts: live count per bin, ``ReferenceBins/totalBins`` values in its global order.
    /// - Complexity: O(bins).
    public init(reference: ReferenceBins, modelVersion: String, applications: Int, counts: [Int]) {
        precondition(applications > 0 && counts.count == reference.totalBins, "counts per bin of a non-empty window")
        self.modelVersion = modelVersion
        self.applications = applications
        let total = Double(applications)
        fields = reference.reference.fields.enumerated().map { index, field in
            let offset = reference.binOffset(field: index)
            let expected = field.referenceShares
            let live = (0..<field.binCount).map { Double(counts[offset + $0]) / total }
            let psi = StabilityIndex.psi(reference: expected, live: live)
            let bins = zip(field.binLabels, zip(expected, live)).map { Bin(label: $0, reference: $1.0, live: $1.1) }
            return Field(field: field.name, psi: psi, band: StabilityIndex.Band(psi: psi), bins: bins)
        }
    }

    /// The report as JSON, keys in the documented order (`model_version`, `applications`,
    /// `fields`; `field`, `psi`, `band`, `bins`; `label`, `reference`, `live`), numbers in
    /// their shortest round-trip form (whole numbers without a fraction): the same bytes from
    /// the server's `/drift` and `loanscore drift --json`. Written by hand because
    /// `JSONEncoder` does not keep key order on Linux. O(bins).
    public func json() -> Data {
        var out = "{\"model_version\":" + JSONText.quoted(modelVersion) + ",\"applications\":\(applications),\"fields\":["
        for (i, field) in fields.enumerated() {
            if i > 0 { out += "," }
            out += "{\"field\":" + JSONText.quoted(field.field) + ",\"psi\":" + Self.number(field.psi)
                + ",\"band\":\"" + field.band.rawValue + "\",\"bins\":["
            for (j, bin) in field.bins.enumerated() {
                if j > 0 { out += "," }
                out += "{\"label\":" + JSONText.quoted(bin.label) + ",\"reference\":" + Self.number(bin.reference)
                    + ",\"live\":" + Self.number(bin.live) + "}"
            }
            out += "]}"
        }
        out += "]}"
        return Data(out.utf8)
    }

    /// A finite number as JSON: a whole number below 2^53 without a fraction, else Swift's
    /// shortest round-trip `description`.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }  // never: shares and PSI are finite
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return value.description
    }

}
