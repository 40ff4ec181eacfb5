internal import Foundation

/// One delivery's outcome as the completion statement takes it (a JSON record, so a batch of any size is
/// one parameter and one statement).
struct Completion: Encodable, Sendable {
    var delivery_id: Int64
    var attempt: Int
    var state: String
    var attempts: Int
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
}

/// A send about to start, as the attempt journal records it.
struct AttemptMarker: Encodable, Sendable {
    var delivery_id: Int64
    var attempt: Int
    var worker_id: String
    var started_at: String
}

/// One breaker key's outcomes from one batch, as `breaker_record` takes them.
struct BreakerRecord: Encodable, Sendable {
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
}
