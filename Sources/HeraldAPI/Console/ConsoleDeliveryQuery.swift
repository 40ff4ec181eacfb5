internal import Foundation
internal import Herald

/// The delivery list's filters, read from the page's query: application, endpoint, state, a creation
/// time range (UTC) and the page cursor.
///
/// Why a value of its own: the same filters make the store's `Filter`, fill the form back in, and build
/// the links of the next page and of the buttons' way back, so they are parsed once and unit-tested.
struct ConsoleDeliveryQuery: Sendable, Equatable {
    /// Which states are listed.
    enum States: Sendable, Equatable {
        /// Failed and dead: what needs an operator (the default).
        case problems
        case only(DeliveryState)
        case any

        /// The form's value for it.
        var formValue: String {
            switch self {
            case .problems: "problems"
            case .only(let state): state.rawValue
            case .any: "any"
            }
        }
    }

    /// Rows per page.
    static let pageSize = 50

    var application: String?
    /// An endpoint's id or URL.
    var endpoint: String?
    var states: States = .problems
    /// Created at or after, as typed (`2026-12-03T08:00`, UTC).
    var from: String?
    /// Created before, as typed.
    var until: String?
    /// The page cursor: deliveries with a smaller id.
    var before: Int64?
    /// What could not be read, said to the operator above the list.
    private(set) var problems: [String] = []

    init(_ form: ConsoleForm) {
        application = form["app"]
        endpoint = form["endpoint"]
        switch form["state"] {
        case nil, "problems": states = .problems
        case "any": states = .any
        case let value?:
            if let state = DeliveryState(rawValue: value) { states = .only(state) } else { problems.append("unknown state \(value): showing failed and dead") }
        }
        from = form["from"]
        until = form["until"]
        if let from, Self.date(from) == nil { problems.append("“from” must look like 2026-12-03T08:00 (UTC): ignored") }
        if let until, Self.date(until) == nil { problems.append("“until” must look like 2026-12-03T08:00 (UTC): ignored") }
        if let text = form["before"] {
            if let id = Int64(text), id > 0 { before = id } else { problems.append("bad page cursor: showing the first page") }
        }
    }

    /// The store's filter for these choices.
    var filter: DeliveryAdminStore.Filter {
        let states: [DeliveryState] = switch self.states {
        case .problems: [.failed, .dead]
        case .only(let state): [state]
        case .any: []
        }
        return DeliveryAdminStore.Filter(states: states, endpoint: endpoint, application: application)
    }

    var fromDate: Date? { from.flatMap(Self.date) }
    var untilDate: Date? { until.flatMap(Self.date) }

    /// The query of this list (without the cursor, or with `before`).
    func encoded(before: Int64? = nil) -> String {
        ConsoleForm.encode([
            ("app", application), ("endpoint", endpoint), ("state", states == .problems ? nil : states.formValue), ("from", from),
            ("until", until), ("before", before.map(String.init)),
        ])
    }

    /// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, seconds optional) read as UTC.
    static func date(_ text: String) -> Date? {
        guard let match = text.wholeMatch(of: /(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?Z?/) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(
            year: Int(match.output.1), month: Int(match.output.2), day: Int(match.output.3), hour: Int(match.output.4),
            minute: Int(match.output.5), second: match.output.6.flatMap { Int($0) } ?? 0)
        guard components.isValidDate(in: calendar) else { return nil }
        return calendar.date(from: components)
    }
}
