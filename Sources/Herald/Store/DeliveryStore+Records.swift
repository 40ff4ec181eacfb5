internal import Foundation
internal import PGDriver

/// The records the delivery store's batch statements take: one JSON array each, so a batch of any size is
/// one parameter and one statement. Each type keeps its fields, its JSON writer and the statement's column
/// list side by side, so adding a field touches one place.

/// One delivery's outcome as ``DeliveryStore/completeQuery(_:)`` takes it.
struct Completion: Sendable, Equatable {
    var deliveryID: Int64
    /// The attempt row's number (finished attempts + 1).
    var attempt: Int
    var state: DeliveryState
    /// The retry budget spent; nil keeps the stored count (a row that could not be read).
    var attempts: Int?
    var nextAttemptAt: Date?
    var statusCode: Int?
    var error: String?
    var startedAt: Date
    var durationMilliseconds: Int
    var requestHeaders: [String: String]
    var responseExcerpt: String?
    var retryable: Bool
    var outcome: DeliveryStateMachine.Outcome
    var workerID: String
    /// False for deliveries finished without a send (disabled endpoint, deferral, parking): no attempt row.
    var logAttempt: Bool
    /// The attempt row written before the send. With `logAttempt` false (a send held back after all),
    /// the completion deletes it.
    var attemptID: Int64?
    /// For a parked delivery, the interrupted sends that parked it.
    var interrupted: Int?

    /// The columns of `jsonb_to_recordset` in ``DeliveryStore/completeQuery(_:)``, as ``json`` writes them.
    static let columns = """
        delivery_id bigint, attempt integer, state text, attempts integer, next_attempt_at timestamptz, status_code integer,
        error text, started_at timestamptz, duration_ms integer, request_headers jsonb, response_excerpt text, retryable boolean,
        outcome text, worker_id text, log_attempt boolean, attempt_id bigint, interrupted integer
        """

    /// This record as a JSON object (see ``JSONObjectWriter`` for why not `JSONEncoder`).
    var json: String {
        var w = JSONObjectWriter()
        w.field("delivery_id", deliveryID)
        w.field("attempt", attempt)
        w.field("state", state.rawValue)
        w.field("attempts", attempts)
        w.field("next_attempt_at", nextAttemptAt.map(PGTimestamp.format))
        w.field("status_code", statusCode)
        w.field("error", error)
        w.field("started_at", PGTimestamp.format(startedAt))
        w.field("duration_ms", durationMilliseconds)
        w.field("request_headers", requestHeaders)
        w.field("response_excerpt", responseExcerpt)
        w.field("retryable", retryable)
        w.field("outcome", outcome.rawValue)
        w.field("worker_id", workerID)
        w.field("log_attempt", logAttempt)
        w.field("attempt_id", attemptID)
        w.field("interrupted", interrupted)
        return w.object
    }
}

/// A send about to start, as `attempt_journal` (migrations/0008) records it.
struct AttemptMarker: Sendable, Equatable {
    var deliveryID: Int64
    var attempt: Int
    var workerID: String
    var startedAt: Date
    /// The key whose rate limit the journal reserves, and that limit (nil: none).
    var breakerKey: String
    var ratePerMinute: Int?

    var json: String {
        var w = JSONObjectWriter()
        w.field("delivery_id", deliveryID)
        w.field("attempt", attempt)
        w.field("worker_id", workerID)
        w.field("started_at", PGTimestamp.format(startedAt))
        w.field("breaker_key", breakerKey)
        w.field("rate_per_minute", ratePerMinute)
        return w.object
    }
}

/// One breaker key's outcomes from one batch, as `breaker_record` (migrations/0008) takes them.
struct BreakerRecord: Sendable, Equatable {
    var key: String
    var successes: Int
    var failures: Int
    var trailingFailures: Int
    var probe: Bool
    var probeOK: Bool
    var threshold: Int
    var cooldownMilliseconds: Int
    var cooldownCapMilliseconds: Int
    var deliveryID: Int64
    var reason: String?
    /// The batch saw a failure, a timeout or a 429: the key's window halves.
    var congested: Bool
    /// The longest wait a 429 (or a 503 with Retry-After) asked for: the whole key is deferred that long.
    var retryAfterMilliseconds: Int?
    /// The key's window cap (the endpoint's max in flight, else the worker's default).
    var cap: Int
    /// Successes only, and the lease saw the key steady (closed, no failures, window at the cap): applied
    /// only if the key is no longer steady at commit. A hot row written by every batch would serialise
    /// every slot; but a batch leased before another recorded a failure must still reset that count, or
    /// failures separated by unrecorded successes add up to a trip (the soak tripped healthy endpoints
    /// answering 5% of requests with 500 twice in 10 minutes).
    var onlyIfUnsteady: Bool = false

    /// The columns of `jsonb_to_recordset` in ``DeliveryStore/recordBreakersQuery(_:)``, as ``json`` writes them.
    static let columns = """
        key text, successes integer, failures integer, trailing_failures integer, probe boolean, probe_ok boolean,
        threshold integer, cooldown_ms integer, cooldown_cap_ms integer, delivery_id bigint, reason text,
        congested boolean, retry_after_ms integer, cap integer, only_if_unsteady boolean
        """

    var json: String {
        var w = JSONObjectWriter()
        w.field("key", key)
        w.field("successes", successes)
        w.field("failures", failures)
        w.field("trailing_failures", trailingFailures)
        w.field("probe", probe)
        w.field("probe_ok", probeOK)
        w.field("threshold", threshold)
        w.field("cooldown_ms", cooldownMilliseconds)
        w.field("cooldown_cap_ms", cooldownCapMilliseconds)
        w.field("delivery_id", deliveryID)
        w.field("reason", reason)
        w.field("congested", congested)
        w.field("retry_after_ms", retryAfterMilliseconds)
        w.field("cap", cap)
        w.field("only_if_unsteady", onlyIfUnsteady)
        return w.object
    }
}

/// One endpoint's lessons from one batch, as `endpoint_outcomes_record` (migrations/0012) takes them.
struct EndpointOutcome: Sendable, Equatable {
    var endpointID: Int64
    var succeeded = false
    var failed = false
    /// It answered 410 Gone: disabled at once.
    var gone = false
    /// Deliveries of this batch that ran out of attempts (`message.attempt.exhausted`).
    var exhausted: [Int64] = []

    /// The columns of `jsonb_to_recordset` in `endpoint_outcomes_record`, as ``json`` writes them.
    static let columns = "endpoint_id bigint, succeeded boolean, failed boolean, gone boolean, exhausted bigint[]"

    var json: String {
        var w = JSONObjectWriter()
        w.field("endpoint_id", endpointID)
        w.field("succeeded", succeeded)
        w.field("failed", failed)
        w.field("gone", gone)
        w.field("exhausted", exhausted)
        return w.object
    }
}
