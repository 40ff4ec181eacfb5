internal import AsyncHTTPClient
internal import Foundation
internal import NIOCore
internal import NIOPosix

/// Turning the HTTP client's and the socket layer's errors into short attempt-log messages.
extension HTTPSender {
    /// What `error` means for the delivery, in words an operator can act on.
    func classify(_ error: any Error, address: String, port: Int) -> AttemptResult {
        let target = address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout || e == .writeTimeout {
                return .timeout("timed out (\(e)) within \(Self.format(totalTimeout))")
            }
            return .connectionError(Redactor.redact("HTTP client error: \(e)", limit: 512))
        }
        if error is CancellationError {
            return .connectionError("send cancelled (worker shutting down)")
        }
        if case ChannelError.connectTimeout = error {
            return .timeout("could not connect to \(target) within the connect timeout")
        }
        if let code = Self.errno(in: error) {
            switch code {
            case ECONNREFUSED: return .connectionError("connection refused by \(target)")
            case ECONNRESET: return .connectionError("connection reset by \(target)")
            case EHOSTUNREACH, ENETUNREACH: return .connectionError("no route to \(target)")
            case ETIMEDOUT: return .timeout("connecting to \(target) timed out")
            default: return .connectionError(Redactor.redact("cannot connect to \(target): \(String(cString: strerror(code)))", limit: 512))
            }
        }
        return .connectionError(Redactor.redact("connection error: \(error)", limit: 512))
    }

    /// Whether the connection was never made (so nothing was sent and another address may be tried).
    static func connectFailed(_ error: any Error) -> Bool {
        if case ChannelError.connectTimeout = error { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        guard let code = errno(in: error) else { return false }
        return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT].contains(code)
    }

    /// The socket error number inside `error`, if there is one.
    static func errno(in error: any Error) -> Int32? {
        if let io = error as? IOError { return io.errnoCode }
        if let connection = error as? NIOConnectionError {
            return connection.connectionErrors.lazy.compactMap { errno(in: $0.error) }.first
        }
        return nil
    }
}
