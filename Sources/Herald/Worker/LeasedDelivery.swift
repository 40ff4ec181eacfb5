internal import Foundation
internal import PGDriver

/// A delivery leased by a worker slot, with what it needs to send it.
///
/// Every leased delivery holds one permit of its breaker key (migrations/0008): the lease only returns
/// rows it could take a permit for, so sending it needs no further check against the fleet.
struct LeasedDelivery: Sendable {
    var id: Int64
    var idempotencyKey: String
    var body: [UInt8]
    /// The body's size in bytes.
    var bodyBytes: Int
    /// Whether ``body`` holds the body: false for one over the inline limit until the round fetches it.
    var bodyFetched: Bool
    var contentType: String
    var headers: [String: String]
    /// The producer's W3C `traceparent` (validated at enqueue/publish), if it gave one.
    var traceparent: String?
    /// Attempts spent against the retry budget (a replay resets it).
    var attempts: Int
    /// The number the next attempt row gets: finished attempts on record + 1, across replays too, so a
    /// timeline never shows two "attempt 1" rows.
    var attemptNumber: Int
    var maxAttempts: Int?
    var breakerKey: String
    var endpointID: Int64
    /// The application (tenant) the endpoint belongs to.
    var applicationID: String
    var url: String
    var secret: String
    var previousSecret: String?
    /// The endpoint's extra request headers (values may be sealed); they win over the delivery's own.
    var endpointHeaders: [String: String]
    /// The endpoint's request timeout, if it set one; a send never waits longer than the worker's.
    var requestTimeoutMilliseconds: Int?
    /// The lease saw the endpoint failing (every attempt failed since `failing_since`).
    var endpointFailing: Bool
    var enabled: Bool
    var disabledReason: String?
    var endpointMaxAttempts: Int?
    var backoffBaseMilliseconds: Int?
    var backoffCapMilliseconds: Int?
    var breakerThreshold: Int?
    var breakerCooldownMilliseconds: Int?
    var breakerCooldownCapMilliseconds: Int?
    /// Requests per minute across the fleet, if the endpoint has a rate limit.
    var rateLimitPerMinute: Int?
    /// The breaker as the lease saw it, judged by the database's clock.
    var breakerState: String
    var breakerFailures: Int
    /// The key's window as stored (nil: not grown yet) and its cap, for skipping the breaker write.
    var sendWindow: Int?
    var windowCap: Int
    /// This send is the half-open probe (the lease found the breaker's cool-down over).
    var probe: Bool
    /// Latest consecutive attempts whose worker died or froze mid-send (never finished, never abandoned).
    var interrupted: Int
    /// When such a send's request may no longer be open at the receiver, by the database's clock: the
    /// delivery is not sent before then.
    var resendNotBefore: Date?

    init(row: PGRow) throws {
        id = try row.decode("id")
        idempotencyKey = try row.decode("idempotency_key")
        guard let size = try row.decode("body_bytes", as: Int?.self) else {
            throw LeaseRowError(id: id, reason: "its payload was pruned (herald prune --payloads-older-than); it cannot be sent")
        }
        bodyBytes = size
        body = try row.decode("body", as: [UInt8]?.self) ?? []
        bodyFetched = size <= DeliveryStore.inlineBodyBytes
        contentType = try row.decode("content_type")
        traceparent = try row.decode("traceparent")
        do {
            headers = try Self.headerMap(row.decode("headers", as: PGJSON.self))
        } catch {
            throw LeaseRowError(id: id, reason: "its headers are not a JSON object of string values (\(Self.brief(error)))")
        }
        attempts = try row.decode("attempts")
        attemptNumber = try row.decode("attempt_number")
        maxAttempts = try row.decode("max_attempts")
        breakerKey = try row.decode("breaker_key")
        endpointID = try row.decode("endpoint_id")
        applicationID = try row.decode("application_id")
        do {
            endpointHeaders = try Self.headerMap(row.decode("endpoint_headers", as: PGJSON.self))
        } catch {
            throw LeaseRowError(id: id, reason: "its endpoint's headers are not a JSON object of string values (\(Self.brief(error)))")
        }
        requestTimeoutMilliseconds = try row.decode("request_timeout_ms")
        endpointFailing = try row.decode("endpoint_failing")
        url = try row.decode("url")
        secret = try row.decode("secret")
        previousSecret = try row.decode("previous_secret")
        enabled = try row.decode("enabled")
        disabledReason = try row.decode("disabled_reason")
        endpointMaxAttempts = try row.decode("endpoint_max_attempts")
        backoffBaseMilliseconds = try row.decode("backoff_base_ms")
        backoffCapMilliseconds = try row.decode("backoff_cap_ms")
        breakerThreshold = try row.decode("breaker_failure_threshold")
        breakerCooldownMilliseconds = try row.decode("breaker_cooldown_ms")
        breakerCooldownCapMilliseconds = try row.decode("breaker_cooldown_cap_ms")
        rateLimitPerMinute = try row.decode("rate_limit_per_minute")
        breakerState = try row.decode("breaker_state")
        breakerFailures = try row.decode("breaker_failures")
        sendWindow = try row.decode("send_window")
        windowCap = try row.decode("window_cap")
        probe = try row.decode("probe")
        interrupted = try row.decode("interrupted")
        resendNotBefore = try row.decode("resend_not_before")
    }

    /// Decodes one leased row; a row that cannot be read is reported by id, so it fails alone.
    static func decode(_ row: PGRow) -> Result<LeasedDelivery, LeaseRowError> {
        do {
            return .success(try LeasedDelivery(row: row))
        } catch let error as LeaseRowError {
            return .failure(error)
        } catch {
            let id = (try? row.decode("id", as: Int64.self)) ?? -1
            return .failure(LeaseRowError(id: id, reason: "the row could not be read (\(brief(error)))"))
        }
    }

    /// A stored header object as a map; `{}` (nearly every row) without a JSONDecoder, which costs the
    /// worker microseconds per delivery twice over (the delivery's and the endpoint's headers).
    static func headerMap(_ json: PGJSON) throws -> [String: String] {
        json.text == "{}" ? [:] : try json.decode([String: String].self)
    }

    static func brief(_ error: any Error) -> String {
        String(String(describing: error).prefix(200))
    }

    /// The request headers of this delivery: its own (the producer's), then the endpoint's, which win on
    /// a name given by both (the endpoint's are the operator's, e.g. the receiver's Authorization).
    var requestHeaders: [String: String] {
        if endpointHeaders.isEmpty { return headers }
        var merged = headers
        for (name, value) in endpointHeaders {
            merged = merged.filter { $0.key.lowercased() != name.lowercased() }
            merged[name] = value
        }
        return merged
    }

    /// The request timeout of this send: the endpoint's when it set a shorter one than the worker's.
    func requestTimeout(worker: Duration) -> Duration {
        guard let ms = requestTimeoutMilliseconds else { return worker }
        return min(worker, .milliseconds(ms))
    }

    /// The worker's breaker policy with this endpoint's overrides.
    func breakerPolicy(base: BreakerPolicy) -> BreakerPolicy {
        base.overridden(threshold: breakerThreshold, cooldownMilliseconds: breakerCooldownMilliseconds, capMilliseconds: breakerCooldownCapMilliseconds)
    }

    /// The worker's policy with this endpoint's and this delivery's overrides.
    func policy(base: RetryPolicy) -> RetryPolicy {
        base.overridden(
            maxAttempts: maxAttempts ?? endpointMaxAttempts, baseMilliseconds: backoffBaseMilliseconds,
            capMilliseconds: backoffCapMilliseconds)
    }
}

/// A leased row that could not be turned into a ``LeasedDelivery`` (hand-written headers that are not
/// strings, say): that delivery is failed with `reason`, and the rest of its batch goes on.
struct LeaseRowError: Error, Sendable, Equatable {
    var id: Int64
    var reason: String
}
