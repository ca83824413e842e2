// The C entry points of include/loanscore.h. Each checks its arguments (NULL, indices,
// lengths) and reports failures as a status and a message (``cEntry``); none traps on input.
// Handles are Swift objects passed to C retained (`Unmanaged`) and released by close/free.
public import CLoanScoreABI
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreVersion
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public typealias ErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

private nonisolated(unsafe) let versionString: UnsafeMutablePointer<CChar> =
    newCString("loanscore-c \(LoanScoreVersion.description) abi \(LOANSCORE_ABI_VERSION)")

private func bundleHandle(_ pointer: OpaquePointer?) throws -> BundleHandle {
    guard let pointer else { throw CAPIError.null("bundle") }
    return Unmanaged<BundleHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

private func resultHandle(_ pointer: OpaquePointer?) throws -> ResultHandle {
    guard let pointer else { throw CAPIError.null("result") }
    return Unmanaged<ResultHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

private func required<T>(_ pointer: T?, _ name: String) throws -> T {
    guard let pointer else { throw CAPIError.null(name) }
    return pointer
}

@_cdecl("loanscore_version")
public func loanscore_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionString)
}

@_cdecl("loanscore_abi_version")
public func loanscore_abi_version() -> Int32 {
    LOANSCORE_ABI_VERSION
}

@_cdecl("loanscore_string_free")
public func loanscore_string_free(_ string: UnsafeMutablePointer<CChar>?) {
    free(string)
}

@_cdecl("loanscore_bundle_open")
public func loanscore_bundle_open(_ path: UnsafePointer<CChar>?, _ outBundle: UnsafeMutablePointer<OpaquePointer?>?, _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let path = try required(path, "path"), out = try required(outBundle, "out_bundle")
        guard let text = String(validatingCString: path) else { throw CAPIError(LOANSCORE_E_BAD_UTF8, "path is not UTF-8") }
        let handle = try BundleHandle(path: text)
        out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    }
}

@_cdecl("loanscore_bundle_close")
public func loanscore_bundle_close(_ bundle: OpaquePointer?) {
    guard let bundle else { return }
    Unmanaged<BundleHandle>.fromOpaque(UnsafeRawPointer(bundle)).release()
}

@_cdecl("loanscore_bundle_describe")
public func loanscore_bundle_describe(_ bundle: OpaquePointer?, _ outInfo: UnsafeMutablePointer<loanscore_bundle_info>?, _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try bundleHandle(bundle), out = try required(outInfo, "out_info")
        out.pointee = handle.info
    }
}

@_cdecl("loanscore_bundle_field")
public func loanscore_bundle_field(_ bundle: OpaquePointer?, _ index: Int, _ outField: UnsafeMutablePointer<loanscore_field>?, _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try bundleHandle(bundle), out = try required(outField, "out_field")
        guard handle.fields.indices.contains(index) else {
            throw CAPIError(LOANSCORE_E_BAD_INDEX, "field index \(UInt(bitPattern: index)) is out of range; the schema has \(handle.fields.count) fields")
        }
        out.pointee = handle.fields[index]
    }
}

@_cdecl("loanscore_bundle_level")
public func loanscore_bundle_level(_ bundle: OpaquePointer?, _ field: Int, _ level: Int, _ outLevel: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                   _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try bundleHandle(bundle), out = try required(outLevel, "out_level")
        guard handle.levels.indices.contains(field) else {
            throw CAPIError(LOANSCORE_E_BAD_INDEX, "field index \(UInt(bitPattern: field)) is out of range; the schema has \(handle.fields.count) fields")
        }
        guard handle.levels[field].indices.contains(level) else {
            throw CAPIError(LOANSCORE_E_BAD_INDEX, "level index \(UInt(bitPattern: level)) is out of range; field \(field) has \(handle.levels[field].count) levels")
        }
        out.pointee = handle.levels[field][level]
    }
}

@_cdecl("loanscore_score")
public func loanscore_score(_ bundle: OpaquePointer?, _ columns: UnsafePointer<loanscore_column>?, _ columnCount: Int, _ rowCount: Int,
                            _ outResult: UnsafeMutablePointer<OpaquePointer?>?, _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try bundleHandle(bundle), out = try required(outResult, "out_result")
        // size_t arrives as Int: a value above Int.max reads negative, which both checks refuse.
        guard columnCount >= 0 else {
            throw CAPIError(LOANSCORE_E_BAD_LENGTH, "column_count \(UInt(bitPattern: columnCount)) is not the schema's \(handle.fields.count) fields")
        }
        guard rowCount >= 0 else {
            throw CAPIError(LOANSCORE_E_TOO_LARGE, "row_count \(UInt(bitPattern: rowCount)) is above LOANSCORE_MAX_ROWS (\(LOANSCORE_MAX_ROWS))")
        }
        let names = handle.bundle.schema.fields.map(\.name)
        let batch = try CColumns(columns, count: columnCount, rows: rowCount, fieldNames: names)
        let result = ResultHandle(bundle: handle, columns: batch)
        out.pointee = OpaquePointer(Unmanaged.passRetained(result).toOpaque())
    }
}

@_cdecl("loanscore_result_free")
public func loanscore_result_free(_ result: OpaquePointer?) {
    guard let result else { return }
    Unmanaged<ResultHandle>.fromOpaque(UnsafeRawPointer(result)).release()
}

@_cdecl("loanscore_result_count")
public func loanscore_result_count(_ result: OpaquePointer?, _ outCount: UnsafeMutablePointer<Int>?, _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result), out = try required(outCount, "out_count")
        out.pointee = handle.count
    }
}

@_cdecl("loanscore_result_rejected_count")
public func loanscore_result_rejected_count(_ result: OpaquePointer?, _ outCount: UnsafeMutablePointer<Int>?, _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result), out = try required(outCount, "out_count")
        out.pointee = handle.rejectedCount
    }
}

private func checkIndex(_ index: Int, _ handle: ResultHandle) throws {
    guard index >= 0, index < handle.count else {
        throw CAPIError(LOANSCORE_E_BAD_INDEX, "application index \(UInt(bitPattern: index)) is out of range; the result holds \(handle.count)")
    }
}

@_cdecl("loanscore_result_application")
public func loanscore_result_application(_ result: OpaquePointer?, _ index: Int, _ outApplication: UnsafeMutablePointer<loanscore_application>?,
                                         _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result), out = try required(outApplication, "out")
        try checkIndex(index, handle)
        func text(_ column: Int32) -> UnsafePointer<CChar> { handle.texts[column]!.string(index) }
        out.pointee = loanscore_application(
            status: handle.status.pointer[index], decision: handle.decision.pointer[index],
            pd: handle.pd.pointer[index], confidence: handle.confidence.pointer[index],
            decision_name: text(LOANSCORE_RESULT_DECISION_NAME), risk_level: text(LOANSCORE_RESULT_RISK_LEVEL),
            reason_count: handle.reasonCounts[index], reasons: text(LOANSCORE_RESULT_REASONS),
            reason_texts: text(LOANSCORE_RESULT_REASON_TEXTS), flags: text(LOANSCORE_RESULT_FLAGS),
            rejection: text(LOANSCORE_RESULT_REJECTION), rejected_field: text(LOANSCORE_RESULT_REJECTED_FIELD))
    }
}

@_cdecl("loanscore_result_reason")
public func loanscore_result_reason(_ result: OpaquePointer?, _ index: Int, _ rank: Int, _ outReason: UnsafeMutablePointer<loanscore_reason>?,
                                    _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result), out = try required(outReason, "out")
        try checkIndex(index, handle)
        let count = handle.reasonCounts[index]
        guard rank >= 0, rank < count else {
            throw CAPIError(LOANSCORE_E_BAD_INDEX, "reason rank \(UInt(bitPattern: rank)) is out of range; application \(index) has \(count) reasons")
        }
        let slot = index * EnsembleScorer.maximumReasons + rank, field = handle.reasonFields[slot], bundle = handle.bundle
        out.pointee = loanscore_reason(field: bundle.fieldNames[field], code: bundle.reasonCodes[field], text: bundle.reasonTexts[field],
                                       contribution: handle.reasonContributions[slot])
    }
}

@_cdecl("loanscore_result_doubles")
public func loanscore_result_doubles(_ result: OpaquePointer?, _ column: Int32, _ outValues: UnsafeMutablePointer<UnsafePointer<Double>?>?,
                                     _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result), out = try required(outValues, "out_values")
        switch column {
        case LOANSCORE_RESULT_PD: out.pointee = handle.pd.base
        case LOANSCORE_RESULT_CONFIDENCE: out.pointee = handle.confidence.base
        default: throw CAPIError(LOANSCORE_E_BAD_INDEX, "result column \(column) is not a numeric column (LOANSCORE_RESULT_PD, _CONFIDENCE)")
        }
    }
}

@_cdecl("loanscore_result_int32s")
public func loanscore_result_int32s(_ result: OpaquePointer?, _ column: Int32, _ outValues: UnsafeMutablePointer<UnsafePointer<Int32>?>?,
                                    _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result), out = try required(outValues, "out_values")
        switch column {
        case LOANSCORE_RESULT_STATUS: out.pointee = handle.status.base
        case LOANSCORE_RESULT_DECISION: out.pointee = handle.decision.base
        default: throw CAPIError(LOANSCORE_E_BAD_INDEX, "result column \(column) is not an integer column (LOANSCORE_RESULT_STATUS, _DECISION)")
        }
    }
}

@_cdecl("loanscore_result_texts")
public func loanscore_result_texts(_ result: OpaquePointer?, _ column: Int32, _ outOffsets: UnsafeMutablePointer<UnsafePointer<Int64>?>?,
                                   _ outData: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<Int>?,
                                   _ errorMessage: ErrorOut) -> Int32 {
    cEntry(errorMessage) {
        let handle = try resultHandle(result)
        let offsets = try required(outOffsets, "out_offsets"), data = try required(outData, "out_data")
        guard let text = handle.texts[column] else {
            throw CAPIError(LOANSCORE_E_BAD_INDEX, "result column \(column) is not a text column (LOANSCORE_RESULT_DECISION_NAME … _REJECTED_FIELD)")
        }
        offsets.pointee = text.offsets.base
        data.pointee = text.data.base
        outLength?.pointee = text.length
    }
}
