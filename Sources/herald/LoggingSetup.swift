import Logging
import Synchronization

/// Configures swift-log once per process.
enum LoggingSetup {
    private static let done = Mutex(false)

    /// `json` writes one JSON object per line (``JSONLogHandler``); anything else, readable text.
    static func bootstrap(level: Logger.Level, format: String) {
        done.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                if format == "json" { return JSONLogHandler(label: label, logLevel: level) }
                return TextLogHandler(label: label, logLevel: level)
            }
        }
    }
}
