/// `manifest.json` of a model bundle, format version 1 (BUNDLE.md).
public struct Manifest: Codable, Sendable {
    /// The only bundle format this version of LoanScore reads.
    public static let supportedFormatVersion = 1

    public var formatVersion: Int
    public var model: ModelIdentity
    public var createdAt: String
    public var lineage: Lineage
    public var schema: String
    public var features: [String]
    public var members: [Member]
    public var combination: String
    public var calibration: Calibration
    public var policy: Policy
    public var reasonCodes: [String: ReasonCode]
    public var metrics: JSONValue?
    /// The training tool's fairness analysis (informational; BUNDLE.md, `fairness`), shown by
    /// `loanscore bundle inspect`.
    public var fairness: JSONValue?
    /// How the training tool chose the cut-offs from the lender's economics (informational;
    /// BUNDLE.md, `cutoffs`); the cut-offs LoanScore applies are `policy`'s.
    public var cutoffs: JSONValue?
    public var validation: Validation?
    /// The bundle's reference distributions for drift (BUNDLE.md, `reference.json`): a file
    /// listed in ``files``; `nil` in bundles written before issue 14 (drift is then unavailable).
    public var reference: String?
    public var files: [String: String]

    enum CodingKeys: String, CodingKey {
        case model, lineage, schema, features, members, combination, calibration, policy, metrics, fairness, cutoffs, validation, reference, files
        case formatVersion = "format_version", createdAt = "created_at", reasonCodes = "reason_codes"
    }

    /// The model's name and version; every result names the version that produced it.
    public struct ModelIdentity: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
    }

    /// Where the model came from.
    public struct Lineage: Codable, Sendable {
        public var trainingData: TrainingData
        public var codeCommit: String
        public var libraries: [String: String]
        public var seed: Int?
        public var holdoutFraction: Double?

        enum CodingKeys: String, CodingKey {
            case libraries, seed
            case trainingData = "training_data", codeCommit = "code_commit", holdoutFraction = "holdout_fraction"
        }

        public struct TrainingData: Codable, Sendable {
            public var file: String
            public var sha256: String
            public var rows: Int?
        }
    }

    /// The kind of an ensemble member.
    public enum MemberKind: String, Codable, Sendable {
        case xgboost
        case randomForest = "random_forest"
        case logisticRegression = "logistic_regression"
    }

    /// An ensemble member: its kind, file and weight in the combined probability.
    public struct Member: Codable, Sendable {
        public var name: String
        public var kind: MemberKind
        public var file: String
        public var weight: Double
    }

    /// The monotone map from the combined probability to the PD.
    public struct Calibration: Codable, Sendable {
        /// `identity` or `isotonic`.
        public var kind: String
        public var x: [Double]?
        public var y: [Double]?

        public init(kind: String, x: [Double]? = nil, y: [Double]? = nil) {
            self.kind = kind
            self.x = x
            self.y = y
        }
    }

    /// Cut-offs and risk levels.
    public struct Policy: Codable, Sendable {
        public var approveBelow: Double
        public var declineAt: Double
        public var riskLevels: [RiskLevel]

        enum CodingKeys: String, CodingKey {
            case approveBelow = "approve_below", declineAt = "decline_at", riskLevels = "risk_levels"
        }

        public struct RiskLevel: Codable, Sendable {
            public var name: String
            /// Exclusive upper PD bound (the last level's, 1, is inclusive).
            public var upper: Double
        }
    }

    /// An adverse-action reason: a short code and its text.
    public struct ReasonCode: Codable, Sendable, Equatable {
        public var code: String
        public var text: String
    }

    /// Where the bundle's validation set lives.
    public struct Validation: Codable, Sendable {
        public var holdout: String
        public var predictions: String
    }
}

/// Any JSON value, kept as it was (used for the informational `metrics`, `fairness` and
/// `cutoffs`).
public enum JSONValue: Codable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
