import CLoanScoreABI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed C call: a `LOANSCORE_E_*` status and the message handed to the caller.
struct CAPIError: Error {
    var status: Int32
    var message: String

    init(_ status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    static func null(_ parameter: String) -> CAPIError {
        CAPIError(LOANSCORE_E_NULL_ARGUMENT, "\(parameter) is NULL")
    }
}

/// A new `malloc`ed NUL-terminated copy of `text` (freed with `free`, or
/// `loanscore_string_free` by the caller). Never returns nil: allocation failure traps, as
/// every Swift allocation does.
func newCString(_ text: String) -> UnsafeMutablePointer<CChar> {
    let bytes = Array(text.utf8)
    let copy = malloc(bytes.count + 1)!.bindMemory(to: CChar.self, capacity: bytes.count + 1)
    bytes.withUnsafeBufferPointer { source in
        for (i, byte) in source.enumerated() { copy[i] = CChar(bitPattern: byte) }
    }
    copy[bytes.count] = 0
    return copy
}

/// Runs the body of a C entry point: clears `*errorMessage`, maps a thrown ``CAPIError``
/// (or anything else, as `LOANSCORE_E_INTERNAL`) to its status and message.
func cEntry(_ errorMessage: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ body: () throws -> Void) -> Int32 {
    errorMessage?.pointee = nil
    do {
        try body()
        return LOANSCORE_OK
    } catch let error as CAPIError {
        errorMessage?.pointee = newCString(error.message)
        return error.status
    } catch {
        errorMessage?.pointee = newCString("internal error: \(error)")
        return LOANSCORE_E_INTERNAL
    }
}

/// A fixed block of `count` elements whose address never moves (unlike an Array's storage):
/// the memory behind the pointers a result hands to C. Freed with its owner.
final class StableBuffer<Element> {
    let pointer: UnsafeMutableBufferPointer<Element>

    init(_ elements: [Element]) {
        // At least one element, so that an empty column still has a valid, non-NULL address.
        pointer = UnsafeMutableBufferPointer.allocate(capacity: Swift.max(elements.count, 1))
        _ = pointer.initialize(from: elements)
    }

    var base: UnsafePointer<Element> { UnsafePointer(pointer.baseAddress!) }

    deinit {
        pointer.deallocate()
    }
}
