import CFuzzDriver
import CLoanScoreABI
import Foundation
import LoanScoreC
import LoanScoreTestSupport

/// The C API (include/loanscore.h) as a C caller drives it, with the library itself compiled
/// under AddressSanitizer: column descriptors built from the input — every kind (and unknown
/// ones), presence masks, doubles from raw bit patterns (NaN, ±inf, subnormals), text with
/// well-formed or arbitrary offsets, invalid UTF-8, NULL arrays, a column count off by one —
/// over the tiny test bundle. Every buffer is allocated with exactly the length the descriptor
/// declares, so a read past what the API promises to read is an ASan report.
///
/// Input: `rows byte · mode byte · per field: kind byte, flags byte, payload…` (see `column`).
/// A refused batch must come with a status and a message; an accepted one is read back whole
/// (every application, reason and column) and checked: one entry per row, PDs in [0, 1] for
/// accepted applications and NaN for rejected ones, text offsets increasing to the length with
/// a NUL before each offset. Then out-of-range indices must be refused.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = Input(bytes: UnsafeBufferPointer(start: data, count: size))
    let rows = Int(input.next() % 9)
    let mode = input.next()
    var buffers = Buffers()
    defer { buffers.free() }
    var descriptors: [loanscore_column] = []
    for _ in 0..<fieldCount { descriptors.append(column(&input, rows: rows, buffers: &buffers)) }
    // Mode bit 0: one column too few or too many (the library must refuse, reading none).
    let columnCount = mode & 1 == 0 ? fieldCount : (mode & 2 == 0 ? fieldCount - 1 : fieldCount + 1)
    if columnCount > descriptors.count { descriptors.append(loanscore_column()) }
    var result: OpaquePointer?
    var message: UnsafeMutablePointer<CChar>?
    let status = descriptors.withUnsafeBufferPointer {
        loanscore_score(bundle, mode & 4 == 0 ? $0.baseAddress : nil, columnCount, rows, &result, &message)
    }
    guard status == LOANSCORE_OK else {
        precondition(message != nil && result == nil, "a refused batch without a message, or with a result")
        loanscore_string_free(message)
        return 0
    }
    precondition(columnCount == fieldCount && message == nil, "a wrong column count was accepted")
    check(result!, rows: rows, probe: input.next())
    loanscore_result_free(result)
    return 0
}

/// The tiny bundle (LoanScoreTestSupport), written once and opened through the C API.
nonisolated(unsafe) let bundle: OpaquePointer = {
    do {
        let directory = try TinyBundle.temporaryDirectory()
        try TinyBundle.write(to: directory)
        var handle: OpaquePointer?
        var message: UnsafeMutablePointer<CChar>?
        guard loanscore_bundle_open(directory.path, &handle, &message) == LOANSCORE_OK, let handle else {
            fatalError("the tiny bundle does not open: \(message.map { String(cString: $0) } ?? "")")
        }
        return handle
    } catch {
        fatalError("cannot write the tiny bundle: \(error)")
    }
}()

let fieldCount: Int = {
    var info = loanscore_bundle_info()
    precondition(loanscore_bundle_describe(bundle, &info, nil) == LOANSCORE_OK, "describe")
    return info.field_count
}()

/// The input as a stream of bytes (zeros past the end).
struct Input {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    mutating func next() -> UInt8 {
        defer { position += 1 }
        return position < bytes.count ? bytes[position] : 0
    }

    mutating func double() -> Double {
        var bits: UInt64 = 0
        for _ in 0..<8 { bits = bits << 8 | UInt64(next()) }
        return Double(bitPattern: bits)
    }
}

/// Allocations the descriptors point into, each exactly as long as declared.
struct Buffers {
    var pointers: [UnsafeMutableRawPointer] = []

    mutating func make<T>(_ values: [T]) -> UnsafePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: values.count)
        pointer.initialize(from: values, count: values.count)
        pointers.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }

    func free() {
        for pointer in pointers { pointer.deallocate() }
    }
}

/// One column: `kind byte` (mod 5: missing, double, UTF-8, bool, an unknown kind), `flags byte`
/// (bit 0 presence mask, bit 1 arbitrary offsets, bit 2 a NULL array), then the values. Text
/// is `length byte · bytes · offsets` (arbitrary: small signed bytes, so negative, decreasing
/// and past-the-end offsets all occur).
func column(_ input: inout Input, rows: Int, buffers: inout Buffers) -> loanscore_column {
    let kind = input.next() % 5, flags = input.next()
    var column = loanscore_column()
    if flags & 1 != 0 { column.valid = buffers.make((0..<rows).map { _ in input.next() & 1 }) }
    switch kind {
    case 0:
        column.kind = LOANSCORE_COLUMN_MISSING
    case 1:
        column.kind = LOANSCORE_COLUMN_DOUBLE
        let values = (0..<rows).map { _ in input.double() }
        column.values = flags & 4 != 0 ? nil : buffers.make(values)
    case 2:
        column.kind = LOANSCORE_COLUMN_UTF8
        let length = Int(input.next() % 48)
        let bytes = (0..<length).map { _ in input.next() }
        var offsets: [Int64]
        if flags & 2 != 0 {
            offsets = (0...rows).map { _ in Int64(Int8(bitPattern: input.next())) }
        } else {
            // Well-formed: cut points in increasing order.
            offsets = [0]
            for _ in 0..<rows { offsets.append(Swift.min(Int64(length), offsets.last! + Int64(input.next() % 8))) }
        }
        column.offsets = flags & 4 != 0 ? nil : buffers.make(offsets)
        column.data = buffers.make(bytes)
        column.data_length = length
    case 3:
        column.kind = LOANSCORE_COLUMN_BOOL
        let values = (0..<rows).map { _ in input.next() }
        column.booleans = flags & 4 != 0 ? nil : buffers.make(values)
    default:
        column.kind = 42
    }
    return column
}

/// Reads a result back whole and checks what the header promises.
func check(_ result: OpaquePointer, rows: Int, probe: UInt8) {
    var count = 0, rejected = 0
    precondition(loanscore_result_count(result, &count, nil) == LOANSCORE_OK && count == rows, "count")
    precondition(loanscore_result_rejected_count(result, &rejected, nil) == LOANSCORE_OK && rejected <= rows, "rejected count")
    var pds: UnsafePointer<Double>?, status: UnsafePointer<Int32>?
    precondition(loanscore_result_doubles(result, LOANSCORE_RESULT_PD, &pds, nil) == LOANSCORE_OK, "pd column")
    precondition(loanscore_result_int32s(result, LOANSCORE_RESULT_STATUS, &status, nil) == LOANSCORE_OK, "status column")
    for i in 0..<rows {
        var application = loanscore_application()
        precondition(loanscore_result_application(result, i, &application, nil) == LOANSCORE_OK, "application")
        precondition(application.status == status![i], "status differs between the column and the struct")
        if application.status == LOANSCORE_ACCEPTED {
            precondition(pds![i] >= 0 && pds![i] <= 1 && application.pd == pds![i], "PD out of [0, 1]")
            precondition(application.reason_count <= 4 && strlen(application.rejection) == 0, "accepted")
            for rank in 0..<application.reason_count {
                var reason = loanscore_reason()
                precondition(loanscore_result_reason(result, i, rank, &reason, nil) == LOANSCORE_OK && reason.contribution > 0, "reason")
                _ = strlen(reason.code) + strlen(reason.text) + strlen(reason.field)
            }
        } else {
            precondition(pds![i].isNaN && application.decision == -1 && strlen(application.rejection) > 0, "rejected")
        }
        _ = strlen(application.reasons) + strlen(application.reason_texts) + strlen(application.flags) + strlen(application.risk_level)
    }
    for column in [LOANSCORE_RESULT_DECISION_NAME, LOANSCORE_RESULT_RISK_LEVEL, LOANSCORE_RESULT_REASONS, LOANSCORE_RESULT_REASON_TEXTS,
                   LOANSCORE_RESULT_FLAGS, LOANSCORE_RESULT_REJECTION, LOANSCORE_RESULT_REJECTED_FIELD] {
        var offsets: UnsafePointer<Int64>?, bytes: UnsafePointer<UInt8>?, length = 0
        precondition(loanscore_result_texts(result, column, &offsets, &bytes, &length, nil) == LOANSCORE_OK, "text column")
        precondition(offsets![0] == 0 && Int(offsets![rows]) == length, "text offsets")
        for i in 0..<rows {
            precondition(offsets![i + 1] > offsets![i] && bytes![Int(offsets![i + 1]) - 1] == 0, "a value without its NUL")
        }
    }
    // Out of range: refused with a message, never read.
    var application = loanscore_application()
    var message: UnsafeMutablePointer<CChar>?
    let index = rows + Int(probe % 3)
    precondition(loanscore_result_application(result, index, &application, &message) == LOANSCORE_E_BAD_INDEX, "index past the end")
    loanscore_string_free(message)
    var values: UnsafePointer<Double>?
    let column = Int32(probe) - 100
    let read = loanscore_result_doubles(result, column, &values, nil) == LOANSCORE_OK
    precondition(read == (column == LOANSCORE_RESULT_PD || column == LOANSCORE_RESULT_CONFIDENCE), "numeric column \(column)")
}

/// The entry point SwiftPM links a debug executable with (see Package.swift); runs libFuzzer.
@_cdecl("CABIFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    loanscore_fuzz_run(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
