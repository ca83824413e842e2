@testable import LoanScoreLoad
import LoanScoreProtocol
import Testing

/// loanscore-load's batches: the file laid out once, then sliced round and round.
@Suite("loanscore-load batches")
struct BatchSourceTests {
    let schema = WireSchema(fields: [
        WireField(name: "income", type: .number), WireField(name: "home", type: .string), WireField(name: "records", type: .bool),
    ])
    let applications = [
        LoadApplication(id: "a", values: [.number(1), .text("rent"), .bool(true)]),
        LoadApplication(id: "b", values: [.missing, .text("née"), .missing]),
        LoadApplication(id: "c", values: [.number(-0.5), .missing, .bool(false)]),
    ]

    /// What a batch must hold: applications `first, first + 1, …` modulo the file, by position.
    func expected(from first: Int, count: Int) throws -> ScoreRequest {
        let batch = (0..<count).map { applications[(first + $0) % applications.count] }
        let columns = schema.fields.indices.map { field in
            switch schema.fields[field].type {
            case .number: Column(numbers: batch.map { if case .number(let x) = $0.values[field] { x } else { nil } })
            case .bool: Column(bools: batch.map { if case .bool(let x) = $0.values[field] { x } else { nil } })
            case .string: Column(strings: batch.map { if case .text(let x) = $0.values[field] { x } else { nil } })
            }
        }
        return try ScoreRequest(schemaHash: schema.hash, applicationIDs: batch.map(\.id), columns: columns)
    }

    @Test("batches follow the file round and round, larger or smaller than it", arguments: [1, 2, 3, 5, 7])
    func batchesWrapAround(batchSize: Int) throws {
        let source = BatchSource(applications: applications, schema: schema, batchSize: batchSize)
        for n in 0..<6 {
            #expect(try source.next().get() == (try expected(from: n * batchSize, count: batchSize)), "batch \(n)")
        }
    }

    @Test("a dense column must hold one value slot per presence flag")
    func denseColumnsAreChecked() {
        #expect(throws: ProtocolError.self) { try Column(present: [true, false], values: .numbers([1])) }
        #expect(throws: Never.self) { try Column(present: [true, false], values: .strings(["x", ""])) }
    }
}
