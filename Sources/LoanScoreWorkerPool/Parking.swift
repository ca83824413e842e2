#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex and condition variable, heap-allocated so they never move (POSIX forbids
/// copying or moving them once initialised).
final class Parking: @unchecked Sendable {
    // @unchecked: the pthread objects are designed for concurrent use; the pointers are
    // immutable and freed only in deinit.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        // Default attributes; these calls fail only for invalid attributes or lack of memory.
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a signal; call only with the mutex held (inside ``withLock(_:)``). The mutex
    /// is released while waiting and held again on return. Wake-ups may be spurious.
    func waitLocked() {
        pthread_cond_wait(condition, mutex)
    }

    /// Wakes one waiter; call with the mutex held.
    func signalLocked() {
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter; call with the mutex held.
    func broadcastLocked() {
        pthread_cond_broadcast(condition)
    }
}
