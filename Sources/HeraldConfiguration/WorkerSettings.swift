public import Herald

/// A worker's effective settings: the library's configuration plus what only the command line uses
/// (logging), and where each value came from.
public struct WorkerSettings: SettingValues {
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

    public static let command = "herald worker"

    /// A cap is at least its base: each is checked with the other's value, so the refusal names both.
    public static let partners: [String: String] = [
        "backoff_base": "backoff_cap", "backoff_cap": "backoff_base",
        "breaker_cooldown": "breaker_cooldown_cap", "breaker_cooldown_cap": "breaker_cooldown",
    ]

    /// Every bound the library checks, the cross-setting ones (backoff cap ≥ base) included.
    /// - Throws: ``HeraldError/Code/invalidInput`` with the library's message.
    public func check() throws {
        try configuration.validate()
        let r = configuration.retryPolicy, b = configuration.breakerPolicy
        _ = try RetryPolicy(maxAttempts: r.maxAttempts, base: r.base, cap: r.cap, factor: r.factor)
        _ = try BreakerPolicy(failureThreshold: b.failureThreshold, cooldown: b.cooldown, cooldownCap: b.cooldownCap)
    }
}
