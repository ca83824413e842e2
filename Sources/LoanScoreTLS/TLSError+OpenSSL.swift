internal import COpenSSL

extension TLSError {
    /// An error carrying OpenSSL's error queue, which this drains (leaving it empty).
    static func withOpenSSLErrors(
        _ code: Code, _ message: String, fileID: String = #fileID, line: Int = #line
    ) -> TLSError {
        TLSError(code, message, openSSLErrors: drainOpenSSLErrorQueue(), fileID: fileID, line: line)
    }
}

/// Removes every entry from this thread's OpenSSL error queue and returns them, oldest first.
func drainOpenSSLErrorQueue() -> [TLSError.OpenSSLError] {
    var errors: [TLSError.OpenSSLError] = []
    while true {
        // OpenSSL returns pointers to its own static strings (file, data); they stay valid
        // until the next ERR call on this thread, and are copied into Swift strings at once.
        var file: UnsafePointer<CChar>? = nil
        var line: Int32 = 0
        var data: UnsafePointer<CChar>? = nil
        var flags: Int32 = 0
        let code = ERR_get_error_all(&file, &line, nil, &data, &flags)
        if code == 0 { break }
        errors.append(
            TLSError.OpenSSLError(
                code: UInt(code),
                text: openSSLErrorText(code),
                data: (flags & ERR_TXT_STRING) != 0 ? data.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } : nil,
                file: file.map { String(cString: $0) } ?? "?",
                line: Int(line)
            )
        )
    }
    return errors
}

/// `ERR_error_string_n` for one packed code, e.g. `error:0A000086:SSL routines::certificate verify failed`.
func openSSLErrorText(_ code: UInt) -> String {
    // A local 256-byte buffer; ERR_error_string_n writes at most `count` bytes including the
    // terminating NUL, so the C string never runs past it.
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
        guard let base = buffer.baseAddress else { return "error:\(String(code, radix: 16))" }
        ERR_error_string_n(code, base, buffer.count)
        return String(cString: base)
    }
}
