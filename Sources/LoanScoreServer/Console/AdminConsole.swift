import Foundation
import LoanScoreAudit
import LoanScoreModel
import NIOHTTP1

/// A request for the console, as ``AdminHandler`` hands it over (the path without its query).
struct ConsoleRequest: Sendable {
    var method: HTTPMethod
    var path: String
    var query: [String: String]
    var body: [UInt8]
}

/// The console's answer; every one carries ``AdminConsole/hardeningHeaders``.
struct ConsoleAnswer: Sendable {
    var status: Int
    var type: String
    var body: String
}

/// The operator's web console on the admin port (`console: true`, `--console`): its pages
/// (``ConsoleAssets``) and the JSON endpoints they read, which are documented beside the
/// admin port's others (README, "Web console"):
///
/// - `GET /stats`: traffic, latency, errors, BUSY, decisions and approval rate (``ConsoleStats``);
/// - `GET /decisions/recent?limit=N` and `GET /decisions/<id>` (``ConsoleDecisions``);
/// - `POST /score`: one application scored by the serving engine (``ConsoleScoring``);
/// - `GET /model/card`: the bundle's manifest (without calibration points), schema and model
///   card; `GET /model/report.html`: the bundle's report, read-only.
///
/// GET never changes state; `POST /score` appends to the audit log only with
/// `console_score_audited`.
final class AdminConsole: Sendable {
    private let state: ServerState
    private let metricsText: @Sendable () -> String
    let stats = ConsoleStats()
    let decisions: ConsoleDecisions

    /// The headers of every console answer: no script, style or connection but the admin
    /// port's own, no framing, no referrer, no caching.
    static let hardeningHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]

    /// The bundle's own report may style itself and embed its figures, and nothing more.
    static let reportPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"

    /// - Parameters:
    ///   - decisions: the recent decisions the scoring path keeps (``ServerState/consoleDecisions``).
    ///   - metrics: the `/metrics` text (``ConsoleStats`` reads its figures from it).
    init(state: ServerState, decisions: ConsoleDecisions, metrics: @escaping @Sendable () -> String) {
        self.state = state
        self.decisions = decisions
        self.metricsText = metrics
    }

    /// Whether the console answers this method and path (else the admin port's own routes do).
    static func handles(method: HTTPMethod, path: String) -> Bool {
        switch method {
        case .GET: path == "/console" || path.hasPrefix("/console/") || path == "/stats" || path.hasPrefix("/decisions/")
            || path == "/model/card" || path == "/model/report.html"
        case .POST: path == "/score"
        default: false
        }
    }

    /// Answers one request (called off the event loop: a lookup reads the audit log).
    func answer(_ request: ConsoleRequest) async -> ConsoleAnswer {
        let generation = state.generation
        switch (request.method, request.path) {
        case (.GET, "/stats"):
            var models = [["role": "champion", "name": generation.modelName, "version": generation.modelVersion]]
            if let challenger = generation.challenger {
                models.append(["role": "challenger", "name": challenger.modelName, "version": challenger.modelVersion,
                               "mode": challenger.mode.rawValue])
            }
            return json(200, stats.document(exposition: metricsText(), models: models))
        case (.GET, "/decisions/recent"):
            let limit = request.query["limit"].map { Int($0) ?? 0 } ?? 20  // present but not a whole number: refused below
            guard (1...ConsoleDecisions.capacity).contains(limit) else {
                return error(400, "bad_limit", "limit must be 1 to \(ConsoleDecisions.capacity), got \(request.query["limit"] ?? "")")
            }
            let bundles = Self.bundles(generation)
            return json(200, ["decisions": decisions.mostRecent(limit).map { ConsoleDecisions.json($0, bundles: bundles) },
                              "kept": ConsoleDecisions.capacity])
        case (.GET, let path) where path.hasPrefix("/decisions/"):
            let raw = String(path.dropFirst("/decisions/".count))
            guard let id = raw.removingPercentEncoding, !id.isEmpty else {
                return error(400, "bad_id", "the application id must be percent-encoded UTF-8 after /decisions/")
            }
            switch await decisions.lookUpOffThePool(id) {
            case .found(let record, let count):
                var object = ConsoleDecisions.json(record, bundles: Self.bundles(generation))
                object["records"] = count
                return json(200, object)
            case .notFound:
                return error(404, "not_found", "not found: no decision for application id '\(id)' in the audit log")
            case .unreadable(let reason):
                return error(503, "audit_unreadable", "the audit log cannot be read: \(reason)")
            case .busy:
                return error(503, "lookups_busy", "\(ConsoleDecisions.concurrentLookups) lookups are reading the audit log already; "
                    + "retry in a moment")
            }
        case (.POST, "/score"):
            let outcome = ConsoleScoring.score(request.body, engine: generation.engine)
            var body = outcome.body
            if let record = outcome.record, state.configuration.consoleScoreAudited {
                if let failure = await append(record) {
                    return error(503, "audit_unavailable", "scored, but the decision could not be recorded: \(failure)")
                }
                decisions.recorded([record])
            }
            if outcome.record != nil { body["audited"] = state.configuration.consoleScoreAudited }
            return json(outcome.status, body)
        case (.GET, "/model/card"):
            return json(200, Self.card(generation.bundle))
        case (.GET, "/model/report.html"):
            let file = generation.bundle.directory.appendingPathComponent("report.html")
            guard let data = FileManager.default.contents(atPath: file.path) else {
                return error(404, "no_report", "this bundle has no report.html")
            }
            return ConsoleAnswer(status: 200, type: "text/html; charset=utf-8", body: String(decoding: data, as: UTF8.self))
        default:
            guard let asset = ConsoleAssets.asset(for: request.path) else {
                return ConsoleAnswer(status: 404, type: "text/plain; charset=utf-8",
                                     body: "not found: \(request.path) (the console's pages are under /console)\n")
            }
            return ConsoleAnswer(status: 200, type: asset.type, body: asset.body)
        }
    }

    private func append(_ record: AuditRecord) async -> String? {
        await withCheckedContinuation { continuation in
            state.audit.append([record]) { result in
                switch result {
                case .success: continuation.resume(returning: nil)
                case .failure(let error): continuation.resume(returning: "\(error)")
                }
            }
        }
    }

    private static func bundles(_ generation: ModelGeneration) -> [ModelBundle] {
        [generation.bundle] + (generation.challenger.map { [$0.bundle] } ?? [])
    }

    /// `/model/card`: the manifest without the calibration's points, the schema, the model
    /// card's Markdown (null when the bundle has none) and whether it has a report.
    static func card(_ bundle: ModelBundle) -> [String: Any] {
        func object<T: Encodable>(_ value: T) -> Any {
            (try? JSONEncoder().encode(value)).flatMap { try? JSONSerialization.jsonObject(with: $0) } ?? NSNull()
        }
        var manifest = bundle.manifest
        manifest.calibration.x = nil
        manifest.calibration.y = nil
        let directory = bundle.directory
        let markdown = FileManager.default.contents(atPath: directory.appendingPathComponent("model_card.md").path)
        let report = FileManager.default.fileExists(atPath: directory.appendingPathComponent("report.html").path)
        return [
            "manifest": object(manifest), "schema": object(bundle.schema),
            "model_card": markdown.map { String(decoding: $0, as: UTF8.self) } ?? NSNull(),
            "report": report ? "/model/report.html" : NSNull(), "bundle": directory.path,
        ]
    }

    private func json(_ status: Int, _ object: [String: Any]) -> ConsoleAnswer {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return ConsoleAnswer(status: status, type: "application/json", body: String(decoding: data, as: UTF8.self) + "\n")
    }

    private func error(_ status: Int, _ code: String, _ message: String) -> ConsoleAnswer {
        json(status, ["code": code, "error": message])
    }
}
