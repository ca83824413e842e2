import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import Prometheus

/// Which of the two models of a champion/challenger pair a result or a series belongs to (the
/// audit record's `role`, the metrics' `role` label).
public enum ModelRole: String, Sendable, CaseIterable {
    /// The model named by `bundle`: it answers every application it is not displaced from.
    case champion
    /// The model named by `challenger.bundle`: it shadows the champion, or decides a fraction.
    case challenger
}

/// Why a challenger's schema cannot stand beside the champion's.
public struct ChallengerSchemaError: Error, CustomStringConvertible, Sendable {
    /// The challenger field at fault.
    public var field: String
    /// What is wrong with it and why it matters, in plain words.
    public var message: String
    /// The message.
    public var description: String { message }
}

/// The challenger half of a ``ModelGeneration``: its bundle and engine (the same scoring path
/// as the champion's), where each of its schema fields sits among the champion's wire
/// columns, its role-labelled metrics and the mode it runs in. Immutable.
final class ChallengerModel: Sendable {
    let bundle: ModelBundle
    let engine: ScoringEngine
    /// The configured folder (as `/model` shows it).
    let path: String
    let mode: ServerConfiguration.Challenger.Mode
    /// Split mode's share, in [0, 1]; 0 in shadow mode.
    let fraction: Double
    /// `fieldMap[i]` is the champion column of the challenger's schema field `i`.
    let fieldMap: [Int]
    /// `model_version`/`role="challenger"` series: its verdicts (in shadow mode, what it would
    /// have decided) and PDs.
    let metrics: ModelMetrics
    /// `loanscore_challenger_skipped_total`: applications the challenger did not get to
    /// judge, by reason (see ``MetricsCatalog/challengerSkipped``).
    let invalidForChallenger: Prometheus.Counter, protocolVersion1: Prometheus.Counter

    init(bundle: ModelBundle, path: String, settings: ServerConfiguration.Challenger, fieldMap: [Int], explain: Bool,
         registry: PrometheusCollectorRegistry) {
        self.bundle = bundle
        self.path = path
        self.fieldMap = fieldMap
        mode = settings.mode
        fraction = settings.splitFraction
        engine = ScoringEngine(bundle: bundle, explain: explain)
        metrics = ModelMetrics(bundle: bundle, registry: registry, role: .challenger)
        invalidForChallenger = registry.makeCounter(MetricsCatalog.challengerSkipped, "invalid_for_challenger")
        protocolVersion1 = registry.makeCounter(MetricsCatalog.challengerSkipped, "protocol_version_1")
    }

    var modelName: String { bundle.manifest.model.name }
    var modelVersion: String { bundle.manifest.model.version }

    /// Every handle of this challenger (its skip counters are server-wide and stay).
    var handles: [AnyObject] { metrics.handles }

    /// Where each of the challenger's fields is among the champion's: the challenger must
    /// accept every application the champion's WELCOME lets a client send.
    ///
    /// Rules: every challenger field exists in the champion's schema (by name) with the same
    /// type (`number`, `integer`, `category` and `boolean` are distinct); a field the
    /// challenger requires (not nullable) is required by the champion too, since the champion
    /// accepts a missing value where it is nullable. Category levels, ranges and labels may
    /// differ: an application the challenger then refuses is answered by the champion and
    /// counted (`loanscore_challenger_skipped_total{reason="invalid_for_challenger"}`).
    ///
    /// - Returns: the champion field index of each challenger field, in challenger order.
    /// - Throws: ``ChallengerSchemaError`` naming the first field at fault.
    /// - Complexity: O(champion fields + challenger fields).
    static func fieldMap(champion: Schema, challenger: Schema) throws(ChallengerSchemaError) -> [Int] {
        var index: [String: Int] = [:]
        for (i, field) in champion.fields.enumerated() { index[field.name] = i }
        var map: [Int] = []
        map.reserveCapacity(challenger.fields.count)
        for field in challenger.fields {
            guard let at = index[field.name] else {
                throw ChallengerSchemaError(field: field.name, message: "challenger field '\(field.name)' is not in the champion's "
                    + "schema: clients send only the champion's fields, so the challenger's schema must be a subset of them")
            }
            let served = champion.fields[at]
            guard served.type == field.type else {
                throw ChallengerSchemaError(field: field.name, message: "challenger field '\(field.name)' is \(field.type.rawValue) "
                    + "where the champion's is \(served.type.rawValue): a shared field must have the same type in both schemas")
            }
            if !field.acceptsMissing && served.acceptsMissing {
                throw ChallengerSchemaError(field: field.name, message: "challenger field '\(field.name)' is required (not nullable) "
                    + "where the champion's accepts a missing value: the challenger would refuse applications the champion accepts")
            }
            map.append(at)
        }
        return map
    }
}

/// Split mode's routing: the challenger decides an application when its id's FNV-1a 64-bit
/// hash, passed through MurmurHash3's 64-bit finalizer (`fmix64`) and mapped to [0, 1), is below
/// the fraction. Depends on the id alone: deterministic and sticky across batches, connections,
/// restarts and servers (PROTOCOL.md §5.5.1).
///
/// The finalizer matters: FNV-1a's top bits barely move between ids that differ only in their
/// last characters, so without it blocks of sequential ids fell on one side (ids `p-0`…`p-99`
/// all went to the champion at fractions 0.1 and 0.3; the first 1,000 `APP-000000`… ids gave
/// shares 0.30 and 0.60). With it: 0.14 / 0.29 and 0.119 / 0.319.
enum ChallengerRouting {
    /// FNV-1a, 64 bits, over `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
    /// O(bytes), allocation-free.
    static func fnv1a64<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// MurmurHash3's 64-bit finalizer (Austin Appleby, MurmurHash3.cpp `fmix64`): every input
    /// bit affects every output bit.
    static func fmix64(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k = k &* 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k = k &* 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }

    /// The mixed hash's top 53 bits as a number in [0, 1): `Double(fmix64(h) >> 11) / 2^53`.
    /// For the id `a`: FNV-1a 0xaf63dc4c8601ec8c, mixed 0x82a2a958a9bece5b, 0.5102945176565711.
    static func unitInterval<Bytes: Sequence>(_ bytes: Bytes) -> Double where Bytes.Element == UInt8 {
        Double(fmix64(fnv1a64(bytes)) >> 11) / 9_007_199_254_740_992.0
    }

    /// Whether an application with this id (its UTF-8 bytes) goes to the challenger.
    static func routesToChallenger<Bytes: Sequence>(id: Bytes, fraction: Double) -> Bool where Bytes.Element == UInt8 {
        unitInterval(id) < fraction
    }
}

/// A view of decoded request columns as another schema's batch, without copying: a subset of
/// the applications (`applications`, nil for all) and of the fields, reordered (`fields[i]` is
/// the column of the view's field `i`; nil for the columns as they are). How the challenger
/// scores the columns decoded against the champion's wire schema, and how the champion scores
/// the applications split mode leaves it.
struct ColumnView: ApplicationColumns {
    let columns: RequestColumns
    let fields: [Int]?
    let applications: [Int]?

    var applicationCount: Int { applications?.count ?? columns.count }
    var fieldCount: Int { fields?.count ?? columns.fieldCount }

    /// O(1), allocation-free.
    func cell(application: Int, field: Int) -> RawCell {
        columns.cell(application: applications.map { $0[application] } ?? application, field: fields.map { $0[field] } ?? field)
    }
}
