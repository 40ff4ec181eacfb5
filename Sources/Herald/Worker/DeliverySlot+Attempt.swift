internal import Foundation
internal import Logging
internal import PGDriver
internal import Tracing

/// One send of a round: sign, send, decide what the delivery becomes.
extension DeliverySlot {
    /// Sends one delivery and decides what it becomes; nil when it was not sent after all because
    /// `startBy` passed first (see ``HTTPSender/send(url:headers:body:startBy:)``).
    ///
    /// With a tracer bootstrapped, the send is a `webhook.attempt` span under `parent` (the delivery's
    /// `herald.lease` span, see ``RoundSpans``) and the receiver gets that span's `traceparent`; without one,
    /// the receiver still gets a child of the producer's stored `traceparent` (``AttemptTrace``).
    func attempt(_ stored: LeasedDelivery, attemptID: Int64?, startBy: ContinuousClock.Instant, parent: ServiceContext? = nil) async -> SentAttempt? {
        // Sealed secrets and headers in clear for the send (security: encryption at rest).
        let opened = try? stored.opened(with: configuration.encryption)
        let delivery = opened ?? stored
        var random = SystemRandomNumberGenerator()
        let machine = DeliveryStateMachine(policy: delivery.policy(base: configuration.retryPolicy))
        let startedAt = now()
        let timestamp = Int(startedAt.timeIntervalSince1970)
        var headers: [(String, String)] = [
            ("Content-Type", delivery.contentType),
            ("User-Agent", "Herald/\(HeraldVersion.current)"),
            ("webhook-id", delivery.idempotencyKey),
            ("webhook-timestamp", String(timestamp)),
            ("Idempotency-Key", delivery.idempotencyKey),
        ]
        let span = parent.map { startSpan("webhook.attempt", context: $0, ofKind: .client) }
        let trace = span.flatMap { TraceCarrier.traceparent(of: $0.context) }.flatMap(AttemptTrace.init(sending:))
            ?? AttemptTrace(childOf: delivery.traceparent, using: &random)
        let outcome: HTTPSender.Outcome
        let clock = ContinuousClock()
        let began = clock.now
        do {
            guard opened != nil else { throw EncryptionKeys.Unavailable() }
            var secrets = [try WebhookSecret(delivery.secret)]
            if let previous = delivery.previousSecret { secrets.append(try WebhookSecret(previous)) }
            headers.append(("webhook-signature", WebhookSigner.header(id: delivery.idempotencyKey, timestamp: timestamp, body: delivery.body, secrets: secrets)))
            // The producer's trace continues: this attempt is a child span of it (a stored traceparent goes).
            var stored = delivery.requestHeaders
            if let trace {
                stored = stored.filter { !AttemptTrace.headerNames.contains($0.key.lowercased()) }
                headers.append(("traceparent", trace.traceparent))
            }
            headers.append(contentsOf: stored.sorted { $0.key < $1.key })
            metrics.inFlight.increment()
            let sent = await http.send(
                url: delivery.url, headers: headers, body: delivery.body, startBy: startBy,
                timeout: delivery.requestTimeout(worker: configuration.requestTimeout))
            metrics.inFlight.decrement()
            guard let sent else {
                span?.attributes["herald.outcome"] = "not_sent"
                span?.end()
                return nil
            }
            outcome = sent
        } catch is EncryptionKeys.Unavailable {
            outcome = HTTPSender.Outcome(result: .connectionError(EncryptionKeys.Unavailable.message), excerpt: nil)
        } catch {
            outcome = HTTPSender.Outcome(result: .refused("the endpoint's signing secret is invalid; rotate it"), excerpt: nil)
        }
        let duration = clock.now - began
        metrics.attemptDuration.recordNanoseconds(Int64(duration.seconds * 1e9))
        let decision = machine.decide(attemptsBefore: delivery.attempts, result: outcome.result, now: now(), random: &random)
        var metadata: Logger.Metadata = [
            "delivery_id": "\(delivery.id)", "attempt": "\(delivery.attemptNumber)", "outcome": "\(decision.outcome.rawValue)",
            "duration_ms": "\(Int(duration.seconds * 1000))",
        ]
        if let status = outcome.result.status { metadata["status"] = "\(status)" }
        if let trace {
            metadata["trace_id"] = "\(trace.traceID)"
            metadata["span_id"] = "\(trace.spanID)"
        }
        metadata["endpoint_id"] = "\(delivery.endpointID)"
        metadata["application_id"] = "\(delivery.applicationID)"
        if let next = decision.nextAttemptAt {
            // A retry says when it comes back and after how long (seed 001: the retry schedule, visible).
            metadata["next_attempt_at"] = "\(next.formatted(.iso8601))"
            metadata["retry_delay_ms"] = "\(max(0, Int(next.timeIntervalSince(now()) * 1000)))"
        }
        let secretValues = [delivery.secret] + CredentialHeaders.values(in: delivery.requestHeaders)
        if let reason = decision.reason { metadata["error"] = "\(Redactor.redact(reason, secrets: secretValues, limit: 256))" }
        if let span { record(span, delivery, outcome: outcome, decision: decision, secrets: secretValues) }
        logger.log(level: decision.state == .delivered ? .debug : .info, "attempt finished", metadata: metadata)
        let completion = completion(
            delivery, decision, startedAt: startedAt, duration: duration,
            headers: CredentialHeaders.redacted(Dictionary(headers, uniquingKeysWith: { a, _ in a })), outcome: outcome,
            attemptID: attemptID)
        let policy = delivery.breakerPolicy(base: configuration.breakerPolicy)
        let steady = delivery.breakerState == "closed" && delivery.breakerFailures == 0
            && (delivery.sendWindow ?? policy.failureThreshold) >= delivery.windowCap
        return SentAttempt(
            completion: completion,
            endpointSend: EndpointOutcomeBatch.Send(
                endpointID: delivery.endpointID, deliveryID: delivery.id, result: outcome.result,
                exhausted: decision.state == .dead, endpointWasFailing: delivery.endpointFailing),
            breakerSend: BreakerBatch.Send(
                key: delivery.breakerKey, deliveryID: delivery.id, probe: delivery.probe, result: outcome.result,
                reason: completion.error, policy: policy, cap: delivery.windowCap, leaseSawSteadyState: steady))
    }

    /// The attempt span's attributes (OpenTelemetry's HTTP and retry conventions, Herald's ids), then its end.
    private func record(
        _ span: any Span, _ delivery: LeasedDelivery, outcome: HTTPSender.Outcome, decision: DeliveryStateMachine.Decision, secrets: [String]
    ) {
        span.attributes["http.request.method"] = "POST"
        span.attributes["url.full"] = Redactor.redact(delivery.url, secrets: secrets, limit: 2048)
        if let status = outcome.result.status { span.attributes["http.response.status_code"] = status }
        span.attributes["webhook.id"] = delivery.idempotencyKey
        span.attributes["retry.attempt_number"] = delivery.attemptNumber
        if let next = decision.nextAttemptAt { span.attributes["retry.delay_ms"] = max(0, Int(next.timeIntervalSince(now()) * 1000)) }
        span.attributes["herald.delivery_id"] = delivery.id
        span.attributes["herald.endpoint_id"] = delivery.endpointID
        span.attributes["herald.application_id"] = delivery.applicationID
        span.attributes["herald.outcome"] = decision.outcome.rawValue
        if decision.state != .delivered {
            span.setStatus(SpanStatus(code: .error, message: decision.reason.map { Redactor.redact($0, secrets: secrets, limit: 256) }))
        }
        span.end()
    }

    func completion(
        _ delivery: LeasedDelivery, _ decision: DeliveryStateMachine.Decision, startedAt: Date, duration: Duration,
        headers: [String: String], outcome: HTTPSender.Outcome, attemptID: Int64?
    ) -> Completion {
        let secrets = [delivery.secret] + (delivery.previousSecret.map { [$0] } ?? []) + CredentialHeaders.values(in: delivery.requestHeaders)
        return Completion(
            deliveryID: delivery.id, attempt: delivery.attemptNumber, state: decision.state, attempts: decision.attempts,
            nextAttemptAt: decision.nextAttemptAt, statusCode: outcome.result.status,
            error: decision.reason.map { Redactor.redact($0, secrets: secrets, limit: configuration.excerptLimit) },
            startedAt: startedAt, durationMilliseconds: Int(duration.seconds * 1000), requestHeaders: headers,
            responseExcerpt: outcome.excerpt.map { Redactor.redact($0, secrets: secrets, limit: configuration.excerptLimit) },
            retryable: decision.retryable, outcome: decision.outcome, workerID: configuration.workerID, logAttempt: true,
            attemptID: attemptID, interrupted: nil)
    }
}
