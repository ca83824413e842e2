import Dispatch
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreProtocol
import LoanScoreWorkerPool
import NIOCore

/// Runs the scoring path on synthetic applications before a generation serves: decoding,
/// validation, feature encoding, every ensemble member (lone-application and batch walks),
/// reason codes and the response writer, on every worker thread.
///
/// The first real requests of a fresh server otherwise pay for first use: page faults on the
/// model's arrays and the workers' buffers, Swift metadata and protocol-conformance lookups,
/// lazily built caches. Nothing is audited or sent: the applications are made up and their
/// results are dropped.
enum WarmUp {
    /// Applications per warm-up batch (the lone-application path is warmed too).
    static let batchSize = 256

    /// A made-up request: each field's values spread over its range (or levels), some missing
    /// where the field allows it.
    static func request(for generation: ModelGeneration, count: Int) -> ByteBuffer? {
        let fields = generation.bundle.schema.fields
        let columns = zip(generation.wireSchema.fields, fields).map { wire, field -> Column in
            switch wire.type {
            case .number:
                let low = field.range?.min ?? 0, high = field.range?.max ?? max(low + 1, 100)
                let width = high - low
                return Column(numbers: (0..<count).map { row -> Double? in
                    if field.isNullable && row % 17 == 16 { return nil }
                    let value = low + width * Double((row * 7919) % 101) / 100
                    return field.type == .integer ? value.rounded(.down) : value
                })
            case .string:
                let labels = field.levels ?? (field.type == .boolean ? (field.trueLabels ?? ["yes"]) + (field.falseLabels ?? ["no"]) : ["x"])
                return Column(strings: (0..<count).map { row -> String? in
                    field.isNullable && row % 13 == 12 ? nil : labels[row % max(1, labels.count)]
                })
            case .bool:
                return Column(bools: (0..<count).map { $0 % 2 == 0 })
            @unknown default:
                return Column(numbers: Array(repeating: nil, count: count))
            }
        }
        guard let request = try? ScoreRequest(schemaHash: generation.wireSchema.hash,
                                              applicationIDs: (0..<count).map { "warm-up-\($0)" }, columns: columns)
        else { return nil }
        var buffer = ByteBuffer()
        request.encode(into: &buffer)
        return buffer
    }

    /// Scores one made-up batch and one made-up lone application with `generation`, writing
    /// their responses and audit records (dropped).
    static func run(_ generation: ModelGeneration, workspaces: RequestWorkspacePool, maximumBatch: Int) {
        for count in [min(batchSize, maximumBatch), 1] {
            guard var payload = request(for: generation, count: count) else { continue }
            let workspace = workspaces.take()
            defer { workspaces.give(workspace) }
            do {
                try workspace.columns.decode(from: &payload, schema: generation.wireSchema, maximumBatch: maximumBatch)
            } catch {
                continue
            }
            // Protocol version 2: a split challenger is warmed up too.
            generation.score(workspace, protocolVersion: ProtocolVersion.maximum)
            _ = generation.engine.respond(workspace, challenger: generation.challenger, requestID: 0, client: "warm-up", time: Date())
        }
    }

    /// Runs ``run(_:workspaces:maximumBatch:)`` on the worker pool, a few jobs per thread so
    /// that every thread takes at least one in practice, and waits for them (at most 10 s).
    static func onEveryWorker(_ generation: ModelGeneration, pool: WorkerPool, threads: Int, workspaces: RequestWorkspacePool,
                              maximumBatch: Int) {
        let done = DispatchGroup()
        for _ in 0..<(threads * 4) {
            done.enter()
            let submitted = pool.trySubmit {
                run(generation, workspaces: workspaces, maximumBatch: maximumBatch)
                done.leave()
            }
            if !submitted { done.leave() }
        }
        _ = done.wait(timeout: .now() + .seconds(10))
    }
}
