public import Herald
public import HeraldAPI

/// `herald serve`'s effective settings: the server's configuration plus what only the command uses
/// (logging, the shutdown grace, the database URL), and where each value came from.
///
/// Defaults are ``APIServer/Configuration``'s; the bounds are checked here, once, for every source.
public struct ServeSettings: SettingValues {
    /// What the server is told.
    public var server: APIServer.Configuration
    /// `DATABASE_URL`.
    public var connectionString = ""
    /// Longest wait for requests in flight on shutdown. Default 30s.
    public var shutdownGrace: Duration = .seconds(30)
    public var logLevel = WorkerSettings.defaultLogLevel
    public var logFormat = WorkerSettings.defaultLogFormat
    public var sources: [String: SettingSource] = [:]
    /// `--tls-cert` and `--tls-key`: HTTPS when both are given (``APIServer/Configuration/tls``).
    public var tlsCertificatePath: String? { didSet { updateTLS() } }
    public var tlsKeyPath: String? { didSet { updateTLS() } }

    private mutating func updateTLS() {
        server.tls = tlsCertificatePath.flatMap { cert in tlsKeyPath.map { ServerTLS(certificatePath: cert, keyPath: $0) } }
    }

    public static let command = "herald serve"
    /// The two TLS files are checked together: a certificate is only right with its key.
    public static let partners: [String: String] = ["tls_cert": "tls_key", "tls_key": "tls_cert"]
    public static let portRange = 0...65535
    public static let poolSizeRange = 1...256
    public static let authFailuresRange = 1...100_000

    public init() { server = APIServer.Configuration(schema: .default) }

    public func check() throws {
        func within(_ value: Int, _ range: ClosedRange<Int>, _ name: String) throws {
            guard range.contains(value) else {
                throw HeraldError.invalid("\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            }
        }
        try within(server.port, Self.portRange, "port")
        try within(server.poolSize, Self.poolSizeRange, "pool_size")
        try within(server.authFailuresPerMinute, Self.authFailuresRange, "auth_failures_per_minute")
        guard shutdownGrace > .zero else { throw HeraldError.invalid("shutdown_grace must be more than 0") }
        guard (tlsCertificatePath == nil) == (tlsKeyPath == nil) else {
            throw HeraldError.invalid("give both --tls-cert and --tls-key (HTTPS), or neither (plain HTTP)")
        }
        // The files are read now, so a wrong path or a broken file stops the server before it starts.
        try server.tls?.check()
    }

    /// Every setting of `herald serve`, in the order `--print-config` lists them.
    public static var settings: [Setting<ServeSettings>] {
        [
            .databaseURL(\.connectionString),
            .schema(\.server.schema),
            .logLevel(\.logLevel),
            .logFormat(\.logFormat),
            .text("host", \.server.host),
            .integer("port", portRange, \.server.port),
            .integer("pool_size", poolSizeRange, \.server.poolSize),
            .integer("auth_failures_per_minute", authFailuresRange, \.server.authFailuresPerMinute),
            .duration("shutdown_grace", \.shutdownGrace),
            .encryptionKey(\.server.keys),
            Setting("tls_cert", show: { $0.tlsCertificatePath ?? "(none: plain HTTP)" }) { settings, text in settings.tlsCertificatePath = text },
            Setting("tls_key", show: { $0.tlsKeyPath ?? "(none)" }) { settings, text in settings.tlsKeyPath = text },
        ]
    }
}

/// The resolver of `herald serve`'s settings.
public typealias ServeSettingsResolver = SettingsResolver<ServeSettings>
