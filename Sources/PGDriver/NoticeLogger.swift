internal import CLibPQ
internal import Logging

/// Routes the server's NOTICE/WARNING messages to swift-log.
///
/// libpq's default receiver prints them on stderr, which would mix unstructured lines into a JSON log
/// stream; a migration's `CREATE SCHEMA IF NOT EXISTS` notice is worth a debug line, not a stderr line.
final class NoticeLogger: Sendable {
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func receive(_ result: OpaquePointer) {
        func field(_ code: Int32) -> String? {
            guard let p = PQresultErrorField(result, code) else { return nil }
            return String(cString: p)
        }
        let severity = field(CLIBPQ_DIAG_SEVERITY_NONLOCALIZED) ?? "NOTICE"
        let message = field(CLIBPQ_DIAG_MESSAGE_PRIMARY) ?? ""
        var metadata: Logger.Metadata = ["pg.severity": "\(severity)"]
        if let state = field(CLIBPQ_DIAG_SQLSTATE) { metadata["pg.sqlstate"] = "\(state)" }
        let level: Logger.Level
        switch severity {
        case "WARNING": level = .warning
        case "NOTICE", "INFO": level = .info
        default: level = .debug
        }
        // NOTICEs about `IF NOT EXISTS` and the like are routine; only warnings are loud.
        logger.log(level: level == .info ? .debug : level, "\(message)", metadata: metadata)
    }
}

/// libpq's notice callback: `arg` is the connection's unretained ``NoticeLogger``.
let noticeReceiver: PQnoticeReceiver = { arg, result in
    guard let arg, let result else { return }
    Unmanaged<NoticeLogger>.fromOpaque(arg).takeUnretainedValue().receive(result)
}
