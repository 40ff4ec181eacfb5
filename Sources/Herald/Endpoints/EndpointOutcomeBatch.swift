internal import Foundation

/// Folds one batch's sends into what each endpoint's lifecycle learns from it: the input of
/// `endpoint_outcomes_record` (migrations/0012), applied in the batch's own completion transaction.
/// A pure function, unit-tested.
///
/// What an answer says about the endpoint's life (unlike the breaker, which asks "is it up right now"):
/// - 2xx: it works; any success clears "failing since".
/// - 410 Gone: the receiver says the endpoint is gone for good; it is disabled at once (Standard Webhooks).
/// - any other answer or error that is not a success: a failed attempt; "failing since" starts with the
///   first, and an endpoint failing for longer than the worker's `--disable-failing-after` is disabled.
/// - 429, and 503 with a Retry-After: the receiver asked to slow down; neither success nor failure.
/// - a send Herald refused itself (SSRF guard, invalid URL or header): says nothing about the receiver.
///
/// Healthy batches write nothing: a record is made only when something changes or must be checked.
enum EndpointOutcomeBatch {
    /// One send, as the endpoint's lifecycle sees it.
    struct Send: Sendable, Equatable {
        var endpointID: Int64
        var deliveryID: Int64
        var result: AttemptResult
        /// The send used the delivery's last attempt and failed: the delivery is dead.
        var exhausted: Bool
        /// The lease saw the endpoint failing (its `failing_since` set): a success must clear it.
        var endpointWasFailing: Bool
    }

    static func records(_ sends: [Send]) -> [EndpointOutcome] {
        var byEndpoint: [Int64: EndpointOutcome] = [:]
        var wasFailing: Set<Int64> = []
        for send in sends {
            var outcome = byEndpoint[send.endpointID] ?? EndpointOutcome(endpointID: send.endpointID)
            if send.endpointWasFailing { wasFailing.insert(send.endpointID) }
            switch reading(send.result) {
            case .success: outcome.succeeded = true
            case .gone: outcome.gone = true
            case .failure: outcome.failed = true
            case .nothing: break
            }
            if send.exhausted { outcome.exhausted.append(send.deliveryID) }
            byEndpoint[send.endpointID] = outcome
        }
        return byEndpoint.values
            .filter { $0.gone || $0.failed || !$0.exhausted.isEmpty || ($0.succeeded && wasFailing.contains($0.endpointID)) }
            .sorted { $0.endpointID < $1.endpointID }
    }

    enum Reading: Equatable { case success, gone, failure, nothing }

    /// What one result says about the endpoint's life.
    static func reading(_ result: AttemptResult) -> Reading {
        switch result {
        case .response(410, _): return .gone
        case .response(let status, let retryAfter) where status == 429 || (status == 503 && retryAfter != nil): return .nothing
        case .refused: return .nothing
        default: return result.classification == .success ? .success : .failure
        }
    }
}
