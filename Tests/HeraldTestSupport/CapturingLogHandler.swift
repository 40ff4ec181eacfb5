import Logging
import Synchronization

/// Log lines kept in memory, for tests that check what was (or was not) logged.
public final class CapturedLogs: Sendable {
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }
    private let lines = Mutex<[Line]>([])
    public init() {}
    public var messages: [Line] { lines.withLock { $0 } }
    func append(_ line: Line) { lines.withLock { $0.append(line) } }
}

/// A swift-log handler writing to ``CapturedLogs``.
public struct CapturingLogHandler: LogHandler {
    let store: CapturedLogs
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(store: CapturedLogs) { self.store = store }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        event.metadata?.forEach { merged[$0.key] = $0.value }
        store.append(
            CapturedLogs.Line(
                level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
