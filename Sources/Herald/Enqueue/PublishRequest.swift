/// One event of an application, to fan out to every endpoint of that application subscribed to it.
///
/// Why apart from ``EnqueueRequest``: a publish names no URL. The producer says whose event it is
/// (`application`) and what happened (`eventType`); Herald picks the endpoints (migrations/0012).
public struct PublishRequest: Sendable, Hashable {
    /// The producer's id for its customer, e.g. `cust_42`; the application is created on first use.
    public var application: String
    /// What happened, e.g. `invoice.paid`; endpoints subscribe to exact types or prefixes (`invoice.*`).
    public var eventType: String
    /// The payload, stored once and sent byte for byte to every endpoint.
    public var payload: [UInt8]
    /// The producer's id for the event; publishing the same (application, event id) again queues nothing.
    public var eventID: String?
    /// Channels the message is published on (at most 10); endpoints that name channels receive only
    /// messages on one of theirs. Empty: no channel.
    public var channels: [String]
    /// Extra request headers; names Herald sets itself are refused. An endpoint's own headers win.
    public var headers: [String: String]
    /// The `Content-Type` sent. Default `application/json`.
    public var contentType: String
    /// The producer's W3C `traceparent` (see ``EnqueueRequest/traceparent``). Malformed: refused.
    public var traceparent: String?

    public init(
        application: String, eventType: String, payload: [UInt8], eventID: String? = nil, channels: [String] = [],
        headers: [String: String] = [:], contentType: String = "application/json", traceparent: String? = nil
    ) {
        self.traceparent = traceparent
        self.application = application
        self.eventType = eventType
        self.payload = payload
        self.eventID = eventID
        self.channels = channels
        self.headers = headers
        self.contentType = contentType
    }
}
