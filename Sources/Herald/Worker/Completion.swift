internal import Foundation

/// One delivery's outcome as the completion statement takes it (a JSON record, so a batch of any size is
/// one parameter and one statement). Written by ``json``; `Decodable` so tests can read that JSON back.
struct Completion: Decodable, Sendable, Equatable {
    var delivery_id: Int64
    var attempt: Int
    var state: String
    /// The retry budget spent; nil keeps the stored count (a row that could not be read).
    var attempts: Int?
    var next_attempt_at: String?
    var status_code: Int?
    var error: String?
    var started_at: String
    var duration_ms: Int
    var request_headers: [String: String]
    var response_excerpt: String?
    var retryable: Bool
    var outcome: String
    var worker_id: String
    /// False for deliveries finished without a send (disabled endpoint, deferral, parking): no attempt row.
    var log_attempt: Bool
    /// The attempt row written before the send. With `log_attempt` false (a send held back after all),
    /// the completion deletes it.
    var attempt_id: Int64?
    /// For a parked delivery, the interrupted sends that parked it.
    var interrupted: Int?

    /// This record as a JSON object (see ``JSONObjectWriter`` for why not `JSONEncoder`).
    var json: String {
        var w = JSONObjectWriter()
        w.field("delivery_id", delivery_id)
        w.field("attempt", attempt)
        w.field("state", state)
        w.field("attempts", attempts)
        w.field("next_attempt_at", next_attempt_at)
        w.field("status_code", status_code)
        w.field("error", error)
        w.field("started_at", started_at)
        w.field("duration_ms", duration_ms)
        w.field("request_headers", request_headers)
        w.field("response_excerpt", response_excerpt)
        w.field("retryable", retryable)
        w.field("outcome", outcome)
        w.field("worker_id", worker_id)
        w.field("log_attempt", log_attempt)
        w.field("attempt_id", attempt_id)
        w.field("interrupted", interrupted)
        return w.object
    }
}

/// A send about to start, as the attempt journal records it.
struct AttemptMarker: Decodable, Sendable, Equatable {
    var delivery_id: Int64
    var attempt: Int
    var worker_id: String
    var started_at: String
    /// The key whose rate limit the journal reserves, and that limit (nil: none).
    var breaker_key: String
    var rate_per_minute: Int?

    var json: String {
        var w = JSONObjectWriter()
        w.field("delivery_id", delivery_id)
        w.field("attempt", attempt)
        w.field("worker_id", worker_id)
        w.field("started_at", started_at)
        w.field("breaker_key", breaker_key)
        w.field("rate_per_minute", rate_per_minute)
        return w.object
    }
}

/// One breaker key's outcomes from one batch, as `breaker_record` takes them.
struct BreakerRecord: Decodable, Sendable, Equatable {
    var key: String
    var successes: Int
    var failures: Int
    var trailing_failures: Int
    var probe: Bool
    var probe_ok: Bool
    var threshold: Int
    var cooldown_ms: Int
    var cooldown_cap_ms: Int
    var delivery_id: Int64
    var reason: String?
    /// The batch saw a failure, a timeout or a 429: the key's window halves.
    var congested: Bool
    /// The longest wait a 429 (or a 503 with Retry-After) asked for: the whole key is deferred that long.
    var retry_after_ms: Int?
    /// The key's window cap (the endpoint's max in flight, else the worker's default).
    var cap: Int

    var json: String {
        var w = JSONObjectWriter()
        w.field("key", key)
        w.field("successes", successes)
        w.field("failures", failures)
        w.field("trailing_failures", trailing_failures)
        w.field("probe", probe)
        w.field("probe_ok", probe_ok)
        w.field("threshold", threshold)
        w.field("cooldown_ms", cooldown_ms)
        w.field("cooldown_cap_ms", cooldown_cap_ms)
        w.field("delivery_id", delivery_id)
        w.field("reason", reason)
        w.field("congested", congested)
        w.field("retry_after_ms", retry_after_ms)
        w.field("cap", cap)
        return w.object
    }
}
