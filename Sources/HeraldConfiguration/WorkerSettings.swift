public import Herald

/// A worker's effective settings: the library's configuration plus what only the command line uses
/// (logging), and where each value came from.
public struct WorkerSettings: Sendable {
    /// What the worker is told; its defaults are the defaults of every setting.
    public var configuration: WorkerConfiguration
    /// `--log-level`: trace … critical. Default info.
    public var logLevel = WorkerSettings.defaultLogLevel
    /// `--log-format`: text or json. Default text.
    public var logFormat = WorkerSettings.defaultLogFormat
    /// The source of each setting's value, by key; a key not here has its default.
    public var sources: [String: SettingSource] = [:]

    /// The default `--log-level`; the other settings' defaults are WorkerConfiguration's.
    public static let defaultLogLevel = "info"
    /// The default `--log-format`.
    public static let defaultLogFormat = "text"

    /// Every setting at its default.
    public init() {
        configuration = WorkerConfiguration(connectionString: "", schema: .default)
    }

    /// Where `key`'s value came from.
    public func source(of key: String) -> SettingSource { sources[key] ?? .default }

    /// One entry per setting, in the order of ``WorkerSetting/all``: key, value (secrets masked), source.
    public var entries: [(key: String, value: String, source: SettingSource)] {
        WorkerSetting.all.map { setting in (setting.key, setting.show(self), source(of: setting.key)) }
    }

    /// Every bound the library checks, the cross-setting ones (backoff cap ≥ base) included.
    /// - Throws: ``HeraldError/Code/invalidInput`` with the library's message.
    func check() throws {
        try configuration.validate()
        let r = configuration.retryPolicy, b = configuration.breakerPolicy
        _ = try RetryPolicy(maxAttempts: r.maxAttempts, base: r.base, cap: r.cap, factor: r.factor)
        _ = try BreakerPolicy(failureThreshold: b.failureThreshold, cooldown: b.cooldown, cooldownCap: b.cooldownCap)
    }
}
