import Foundation

/// Waiting on a condition with a deadline, never a fixed sleep.
public enum Wait {
    /// Re-checks `condition` every few milliseconds until it holds; throws if `timeout` passes first.
    public static func until(
        _ what: String, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if try await condition() { return }
            if clock.now >= deadline { throw TestSupportError("timed out after \(timeout) waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
