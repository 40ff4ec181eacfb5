public import Herald

/// The effective settings of one long-running command (``WorkerSettings``, ``ServeSettings``): what
/// ``SettingsResolver`` fills from flags, the environment, a herald.toml and the defaults.
public protocol SettingValues: Sendable {
    /// Every setting at its default.
    init()
    /// The command's settings, in the order `--print-config` lists them.
    static var settings: [Setting<Self>] { get }
    /// The command, as refusals name it: `herald worker`.
    static var command: String { get }
    /// Settings whose bounds depend on each other (a cap is at least its base), by key.
    static var partners: [String: String] { get }
    /// The source of each value, by key; a key not here has its default.
    var sources: [String: SettingSource] { get set }
    /// Every bound, the cross-setting ones included.
    /// - Throws: ``HeraldError/Code/invalidInput`` with the library's message.
    func check() throws
}

extension SettingValues {
    /// Where `key`'s value came from.
    public func source(of key: String) -> SettingSource { sources[key] ?? .default }

    /// One entry per setting, in the order of ``settings``: key, value (secrets masked), source.
    public var entries: [(key: String, value: String, source: SettingSource)] {
        Self.settings.map { setting in (setting.key, setting.show(self), source(of: setting.key)) }
    }
}

/// Every long-running command's settings: one herald.toml and one environment serve them all, so a key or
/// variable of another command is not this command's typo.
enum SettingCatalog {
    static var variables: Set<String> {
        Set(WorkerSettings.settings.map(\.environmentVariable) + ServeSettings.settings.map(\.environmentVariable) + ["HERALD_CONFIG"])
    }

    static var keys: Set<String> { Set(WorkerSettings.settings.map(\.key) + ServeSettings.settings.map(\.key)) }
}
