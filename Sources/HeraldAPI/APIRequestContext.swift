public import Hummingbird
public import NIOCore

/// The request context of `herald serve`: Hummingbird's basics plus the client's address, which the
/// failed-authentication limiter counts by.
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer of the TCP connection (the load balancer, when there is one).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The request body limit: 1 MiB of payload (Herald's default `herald.max_body_bytes`) plus 64 KiB
    /// for the JSON around it and escaping headroom.
    public var maxUploadSize: Int { APIServer.maximumRequestBytes }
}
