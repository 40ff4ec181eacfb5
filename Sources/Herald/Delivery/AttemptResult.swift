internal import Foundation

/// What happened on the wire when Herald sent a delivery: the input of ``DeliveryStateMachine``.
public enum AttemptResult: Sendable, Hashable {
    /// The endpoint answered with `status`; `retryAfter` is the raw `Retry-After` header, if any.
    case response(status: Int, retryAfter: String?)
    /// No complete answer within the timeout.
    case timeout(String)
    /// The connection failed (refused, reset, DNS, TLS …).
    case connectionError(String)
    /// Herald refused to send (for example a blocked address); never retried.
    case refused(String)

    /// How the engine treats this result.
    public var classification: Classification {
        switch self {
        case .response(let status, _):
            switch status {
            case 200..<300: return .success
            case 408, 429, 500..<600: return .retryable
            case 300..<400: return .permanent
            case 400..<500: return .permanent
            default: return .retryable
            }
        case .timeout, .connectionError: return .retryable
        case .refused: return .permanent
        }
    }

    /// Success, worth retrying, or not worth retrying.
    public enum Classification: Sendable, Hashable {
        case success, retryable, permanent
    }

    /// A short human description for the attempt log.
    public var summary: String {
        switch self {
        case .response(let status, _):
            switch status {
            case 300..<400: return "HTTP \(status): redirects are not followed"
            default: return "HTTP \(status)"
            }
        case .timeout(let message), .connectionError(let message), .refused(let message):
            return message
        }
    }

    /// The HTTP status, if the endpoint answered.
    public var status: Int? {
        if case .response(let status, _) = self { return status }
        return nil
    }
}
