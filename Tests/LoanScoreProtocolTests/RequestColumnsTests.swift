import LoanScoreProtocol
import NIOCore
import Testing

/// `RequestColumns` is reused from request to request on a connection: every decode must
/// leave exactly the new request's values, whatever the previous one held or how it failed.
@Suite("RequestColumns reuse")
struct RequestColumnsTests {
    private func payload(_ request: ScoreRequest) -> ByteBuffer {
        var buffer = ByteBuffer()
        request.encode(into: &buffer)
        return buffer
    }

    private func expectHolds(_ columns: RequestColumns, _ request: ScoreRequest) {
        #expect(columns.count == request.count)
        #expect(columns.fieldCount == request.columns.count)
        for application in 0..<request.count {
            #expect(columns.id(application: application) == request.applicationIDs[application])
            for field in request.columns.indices {
                let expected = request.value(application: application, field: field)
                #expect(columns.value(application: application, field: field) == expected, "application \(application) field \(field)")
                #expect(columns.isPresent(application: application, field: field) == (expected != .missing))
            }
        }
    }

    /// A request of `count` applications whose values all differ from `seed`'s neighbours.
    private func request(count: Int, seed: Int) throws -> ScoreRequest {
        try ScoreRequest(
            schemaHash: vectorSchema.hash, applicationIDs: (0..<count).map { "id-\(seed)-\($0)-" + String(repeating: "x", count: $0 % 20) },
            columns: [
                Column(numbers: (0..<count).map { ($0 + seed) % 3 == 0 ? nil : Double($0 * 10 + seed) }),
                Column(strings: (0..<count).map { ($0 + seed) % 4 == 1 ? nil : "home-\(seed)-\($0)-ünïcode" }),
                Column(numbers: (0..<count).map { ($0 + seed) % 5 == 2 ? nil : -Double($0) - 0.5 }),
                Column(bools: (0..<count).map { ($0 + seed) % 2 == 0 ? nil : $0 % 3 == 0 }),
            ])
    }

    @Test("a smaller request after a larger one holds exactly its own values")
    func smallerAfterLarger() throws {
        var columns = RequestColumns()
        for (count, seed) in [(40, 1), (3, 2), (17, 3), (1, 4), (40, 5)] {
            let request = try request(count: count, seed: seed)
            var buffer = payload(request)
            try columns.decode(from: &buffer, schema: vectorSchema, maximumBatch: 64)
            #expect(buffer.readableBytes == 0)
            expectHolds(columns, request)
        }
    }

    @Test("the vector request decodes to the same values as ScoreRequest.decode")
    func vectorRequestMatches() throws {
        var columns = RequestColumns()
        var buffer = payload(try vectorRequest())
        try columns.decode(from: &buffer, schema: vectorSchema, maximumBatch: 4096)
        expectHolds(columns, try vectorRequest())
        #expect(columns.number(application: 0, field: 0) == 9)
        #expect(columns.number(application: 1, field: 0) == nil)
        #expect(columns.utf8(application: 1, field: 1).map { Array($0) } == Array("owner".utf8))
        #expect(columns.number(application: 1, field: 3) == 1)  // BOOL true
        #expect(columns.utf8(application: 0, field: 0) == nil)  // not a STRING field
    }

    @Test("a failed decode leaves count 0 and the buffers usable; the payload is not consumed")
    func afterAnError() throws {
        var columns = RequestColumns()
        let large = try request(count: 30, seed: 7)
        var buffer = payload(large)
        try columns.decode(from: &buffer, schema: vectorSchema, maximumBatch: 64)

        // Truncated inside the last column, then invalid UTF-8 in a STRING value.
        let small = try request(count: 5, seed: 8)
        let whole = payload(small)
        var truncated = whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - 1)!
        #expect(throws: ProtocolError.self) { try columns.decode(from: &truncated, schema: vectorSchema, maximumBatch: 64) }
        #expect(columns.count == 0)
        #expect(truncated.readableBytes == whole.readableBytes - 1)
        var corrupt = try ScoreRequest(
            schemaHash: vectorSchema.hash, applicationIDs: ["a"],
            columns: [Column(numbers: [1]), Column(strings: ["ab"]), Column(numbers: [2]), Column(bools: [true])])
            .encodedPayload()
        let at = corrupt.readableBytes - 12  // 'b' of "ab", before Income's bitmap and value and Records' bitmap and value
        corrupt.setInteger(UInt8(0xFF), at: corrupt.readerIndex + at)
        do {
            try columns.decode(from: &corrupt, schema: vectorSchema, maximumBatch: 64)
            Issue.record("invalid UTF-8 accepted")
        } catch {
            #expect(error.code == .malformedFrame && error.field == "Home" && error.applicationIndex == 0)
        }
        #expect(columns.count == 0)

        var good = whole
        try columns.decode(from: &good, schema: vectorSchema, maximumBatch: 64)
        expectHolds(columns, small)
    }
}

extension ScoreRequest {
    func encodedPayload() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }
}
