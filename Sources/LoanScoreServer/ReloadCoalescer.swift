/// Turns a stream of reload requests (SIGHUPs) into reloads that never overlap and never
/// queue up: a request that arrives while a reload runs rings a doorbell that holds at most
/// one ring, so any number of requests during one reload cause exactly one more reload.
enum ReloadCoalescer {
    /// Runs `reload` once per ring until `triggers` ends; returns once the last reload it
    /// started has finished.
    static func run<Triggers: AsyncSequence & Sendable>(
        triggers: Triggers, reload: @escaping @Sendable () async -> Void
    ) async where Triggers.Element: Sendable {
        let (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await _ in triggers { ring.yield() }
                } catch {}
                ring.finish()
            }
            for await _ in doorbell {
                await reload()
            }
        }
    }
}
