/// A webhook to queue: where, what, and how to recognise it.
public struct EnqueueRequest: Sendable, Hashable {
    /// The endpoint URL (http or https). An endpoint row is created for a URL seen the first time.
    public var url: String
    /// The body, sent byte for byte on every attempt.
    public var body: [UInt8]
    /// Free-form event type, e.g. `invoice.paid`.
    public var eventType: String
    /// The producer's id for the event; enqueueing the same (URL, event id) again returns the first delivery.
    public var eventID: String?
    /// Extra request headers; names Herald sets itself are refused.
    public var headers: [String: String]
    /// The `Content-Type` sent. Default `application/json`.
    public var contentType: String
    /// Overrides the endpoint's and worker's attempt budget (1…50).
    public var maxAttempts: Int?
    /// The producer's W3C `traceparent`: each attempt is a child span of it and the receiver gets the
    /// continuation, so one trace runs from the producer's transaction to the endpoint. Malformed: refused.
    public var traceparent: String?

    public init(
        url: String, body: [UInt8], eventType: String = "", eventID: String? = nil, headers: [String: String] = [:],
        contentType: String = "application/json", maxAttempts: Int? = nil, traceparent: String? = nil
    ) {
        self.traceparent = traceparent
        self.url = url
        self.body = body
        self.eventType = eventType
        self.eventID = eventID
        self.headers = headers
        self.contentType = contentType
        self.maxAttempts = maxAttempts
    }
}
