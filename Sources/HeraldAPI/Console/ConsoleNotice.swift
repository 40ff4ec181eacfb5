/// The notices a page shows after a redirect, named by a fixed code in its query (`notice=replayed.12`).
///
/// Why codes, not text: a query that carried the text would let any link put words of its author's on an
/// operator's console ("call this number"). Only these sentences can appear, with at most an id.
enum ConsoleNotice {
    /// The notice for `code`, or nil for one not known.
    static func from(_ code: String?) -> ConsoleLayout.Notice? {
        guard let code else { return nil }
        let parts = code.split(separator: ".", maxSplits: 1)
        let id = parts.count == 2 ? Int64(parts[1]) : nil
        switch (parts.first, id) {
        case ("replayed", let id?): return .init(kind: "ok", text: "Delivery \(id) replayed: it is pending again with a fresh attempt budget.")
        case ("retried", let id?): return .init(kind: "ok", text: "Delivery \(id) is due now: a worker will send it at its next lease.")
        case ("unchanged", let id?):
            return .init(kind: "warn", text: "Nothing changed for delivery \(id): its state does not allow that action, or a worker was sending it. Its state is shown below.")
        case ("enabled", let id?): return .init(kind: "ok", text: "Endpoint \(id) enabled: its deliveries are sent again.")
        case ("already-enabled", let id?): return .init(kind: "warn", text: "Endpoint \(id) was already enabled.")
        case ("signedout", _): return .init(kind: "ok", text: "Signed out.")
        case ("ended", _): return .init(kind: "warn", text: "Your session ended: its token was revoked or expired. Sign in again.")
        case ("application", _):
            return .init(kind: "err", text: "That is an application token: the console is for admin tokens only (herald tokens create --admin).")
        default: return nil
        }
    }
}
