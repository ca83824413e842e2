import LoanScoreClient
import LoanScoreProtocol
import NIOCore

/// The open loop (`--rate`): requests sent at fixed intended times by a timer on one event
/// loop, the loop the connections run on. A request then costs one timer wake-up and its I/O
/// on one thread, with no task to start and no hop between threads to send it or to take its
/// answer: at thousands of requests a second the load generator shares the cores with the
/// server it measures, and whatever it spends is taken from the server (the task-per-request
/// loop this replaces used 134 CPU-µs per request, mostly context switches).
///
/// Request `i` is intended at `start + i / rate`. A late wake-up sends every request already
/// due at once, and each one's latency still runs from its intended time, so a stall anywhere
/// shows in the percentiles (no coordinated omission). A due request with
/// `maximumInFlight` requests unanswered is counted DROPPED instead of sent.
///
/// Confined to its event loop: ``run(on:client:batches:recorder:rate:start:end:maximumInFlight:)``
/// creates it there and every callback hops back there.
final class OpenLoopPacer {
    private let loop: any EventLoop
    private let client: ChurningConnections
    private var batches: BatchSource
    /// The file's layouts, to follow a schema change (nil: the first layout throughout).
    private let layouts: FileLayouts?
    /// The layout `batches` comes from, for the required-field check.
    private var layout: FileLayouts.Layout?
    /// Whether a reconnect for a new WELCOME is under way.
    private var following = false
    /// The intended send times of requests that fell due while ``following``: sent, late, once
    /// the new layout is in place (their latency counts from these times).
    private var held: [ContinuousClock.Instant] = []
    private let recorder: Recorder
    private let start: ContinuousClock.Instant
    private let end: ContinuousClock.Instant
    /// Seconds between intended send times.
    private let interval: Double
    private let maximumInFlight: Int
    private let finished: EventLoopPromise<Void>
    /// The next request's number.
    private var index = 0
    private var inFlight = 0
    private var sendingDone = false

    private init(loop: any EventLoop, client: ChurningConnections, batches: BatchSource, recorder: Recorder, rate: Double,
                 start: ContinuousClock.Instant, end: ContinuousClock.Instant, maximumInFlight: Int, layouts: FileLayouts?,
                 layout: FileLayouts.Layout?) {
        self.layouts = layouts
        self.layout = layout
        self.loop = loop
        self.client = client
        self.batches = batches
        self.recorder = recorder
        self.interval = 1 / rate
        self.start = start
        self.end = end
        self.maximumInFlight = maximumInFlight
        finished = loop.makePromise()
    }

    /// Sends `rate` requests a second from `start` until `end` on `loop`; the future completes
    /// once every request sent has its answer or error.
    ///
    /// With `layouts`, a SCHEMA_MISMATCH answer (a reload changed the schema) reconnects the
    /// connections for the new WELCOME in the background and switches to the file laid out
    /// for it; requests due meanwhile are held and sent once the new layout is in place, their
    /// latency counted from their intended times (no coordinated omission), so only the
    /// requests already in flight at the change fail. (Sending them with the stale layout
    /// recorded 252 SCHEMA_MISMATCH errors in one run at 200 requests/s while the debug build
    /// reconnected on a busy machine.)
    /// A stop (``FileLayouts/stopReason``) ends the sending. `layout` is the layout `batches`
    /// comes from (for the check of required fields the file lacks).
    ///
    /// - Precondition: `rate` is positive and finite (the command validates it).
    static func run(on loop: any EventLoop, client: ChurningConnections, batches: BatchSource, recorder: Recorder, rate: Double,
                    start: ContinuousClock.Instant, end: ContinuousClock.Instant, maximumInFlight: Int,
                    layouts: FileLayouts? = nil, layout: FileLayouts.Layout? = nil) -> EventLoopFuture<Void> {
        precondition(rate > 0 && rate.isFinite, "a positive rate")
        return loop.flatSubmit {
            let pacer = OpenLoopPacer(loop: loop, client: client, batches: batches, recorder: recorder, rate: rate,
                                      start: start, end: end, maximumInFlight: maximumInFlight, layouts: layouts,
                                      layout: layout)
            pacer.fire()
            return pacer.finished.futureResult
        }
    }

    /// The intended send time of request `i`.
    private func intended(_ i: Int) -> ContinuousClock.Instant {
        start + .nanoseconds(Int64(Double(i) * interval * 1e9))
    }

    /// Sends every request due by now, then sets the timer for the next one.
    private func fire() {
        let now = ContinuousClock.now
        while true {
            let due = intended(index)
            guard due < end, layouts?.stopReason == nil else { break }
            guard due <= now else {
                // From the clock now, not from `now`: the sends above took their time.
                let wait = due - ContinuousClock.now
                let nanoseconds = max(0, wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000)
                loop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) { self.fire() }
                return
            }
            index += 1
            send(intendedAt: due)
        }
        sendingDone = true
        finishIfDone()
    }

    private func send(intendedAt due: ContinuousClock.Instant) {
        if following { return held.append(due) }
        guard inFlight < maximumInFlight else { return recorder.failure(sentAt: due, code: "DROPPED") }
        let request: ScoreRequest
        switch batches.next() {
        case .success(let batch): request = batch
        case .failure(let error): return recorder.failure(sentAt: due, code: error.code.name)
        }
        inFlight += 1
        let applications = batches.batchSize
        client.submit(request).hop(to: loop).assumeIsolated().whenComplete { result in
            self.inFlight -= 1
            switch result {
            case .success(let response):
                self.recorder.success(sentAt: due, applications: applications, ids: request.applicationIDs)
                if let layout = self.layout, !layout.lacking.isEmpty { _ = self.layouts?.requiredButLacking(response, layout) }
            case .failure(let error):
                self.recorder.failure(sentAt: due, error: error)
                if let error = error as? LoanScoreClientError, error.code == .schemaMismatch { self.followSchemaChange() }
            }
            self.finishIfDone()
        }
    }

    /// After a SCHEMA_MISMATCH: reconnects for the new WELCOME (once at a time) and switches to
    /// the file laid out for it.
    private func followSchemaChange() {
        guard let layouts, !following else { return }
        following = true
        inFlight += 1  // the run does not finish before this does
        let bound = NIOLoopBound(self, eventLoop: loop)
        let client = self.client, loop = self.loop
        Task {
            let welcome = try? await client.reconnect()
            let layout = welcome.flatMap { layouts.layout(for: $0) }
            loop.execute {
                let pacer = bound.value
                if let layout {
                    pacer.batches = layout.source
                    pacer.layout = layout
                }
                pacer.following = false
                let due = pacer.held
                pacer.held.removeAll()
                for time in due { pacer.send(intendedAt: time) }
                pacer.inFlight -= 1
                pacer.finishIfDone()
            }
        }
    }

    private func finishIfDone() {
        if sendingDone && inFlight == 0 { finished.succeed() }
    }
}
