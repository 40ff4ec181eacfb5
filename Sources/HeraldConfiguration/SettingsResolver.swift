internal import Configuration
internal import Foundation
internal import Herald

/// Resolves every setting of a command (`Values`: ``WorkerSettings``, ``ServeSettings``) from flags, the
/// environment, a herald.toml and the defaults, in that order of precedence, with swift-configuration's
/// ``ConfigReader`` over one provider per source.
///
/// Every refusal is ``HeraldError/Code/invalidInput`` (exit 64) naming the key, the value (unless
/// secret) and the source: `invalid concurrency "lots" from HERALD_CONCURRENCY: expected a whole number
/// 1-256`. A key the file sets that is no setting, and a `HERALD_` variable one typo away from a setting,
/// are refused too, since either means a value the operator believes is in force is not. Keys and variables
/// of another command (one herald.toml for the whole deployment) are left to that command.
public struct SettingsResolver<Values: SettingValues>: Sendable {
    /// Values given as flags, by setting key (`"batch_size": "32"`), as typed.
    public var flags: [String: String]
    /// The process environment.
    public var environment: [String: String]
    /// `--config`, if given; else `HERALD_CONFIG` names the file.
    public var configFlag: String?

    public init(flags: [String: String] = [:], environment: [String: String] = [:], configFlag: String? = nil) {
        self.flags = flags
        self.environment = environment
        self.configFlag = configFlag
    }

    /// The config file's path and where it was named, if any.
    public var configFile: (path: String, source: SettingSource)? {
        if let configFlag { return (configFlag, .flag("--config")) }
        if let path = environment["HERALD_CONFIG"], !path.isEmpty { return (path, .environment("HERALD_CONFIG")) }
        return nil
    }

    /// One value found for a setting.
    struct Given {
        var setting: Setting<Values>
        var text: String
        var source: SettingSource
        /// `concurrency "lots" from HERALD_CONCURRENCY`; a secret's value is never shown.
        var named: String {
            "\(setting.key) \(setting.isSecret ? "(value not shown)" : String(text.prefix(60)).debugDescription) from \(source.origin)"
        }
    }

    /// The effective settings.
    /// - Throws: ``HeraldError/Code/invalidInput`` naming the key and the source.
    public func resolve() throws -> Values {
        let settings = Values.settings
        try checkEnvironmentNames(settings)
        let secrets = Set(settings.filter(\.isSecret).map(\.key))
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(uniqueKeysWithValues: flags.map { key, value in
                    (AbsoluteConfigKey([key]), ConfigValue(.string(value), isSecret: secrets.contains(key)))
                })),
            // An empty variable counts as unset, as `HERALD_METRICS_PORT=` in a compose file means.
            EnvironmentVariablesProvider(
                environmentVariables: environment.filter { !$0.value.isEmpty },
                secretsSpecifier: .specific(Set(settings.filter(\.isSecret).map(\.environmentVariable)))
            ).mapKeys { key in AbsoluteConfigKey([Setting<Values>.named(key.components.joined(separator: "."))?.environmentVariable ?? "HERALD_?"]) },
        ]
        let file = configFile
        if let file {
            let provider: FlatTOMLProvider
            do {
                provider = try FlatTOMLProvider(path: file.path, secretKeys: secrets)
            } catch let error as HeraldError where error.message.hasPrefix("config file") {
                throw HeraldError.invalid("\(error.message) (named by \(file.source.origin))")
            }
            try checkFileKeys(provider, settings)
            providers.append(provider)
        }
        let recorder = SourceRecorder()
        let reader = ConfigReader(providers: providers, accessReporter: recorder)

        var given: [Given] = []
        for setting in settings {
            let text = reader.string(forKey: ConfigKey([setting.key]), isSecret: setting.isSecret)
            let answering = recorder.takeAnsweringProvider()
            guard let text else { continue }
            let source: SettingSource = switch answering {
            case 0: .flag(setting.flag ?? setting.key)
            case 1: .environment(setting.environmentVariable)
            default: .file(file?.path ?? "?")
            }
            given.append(Given(setting: setting, text: text, source: source))
        }

        var resolved = Values()
        for value in given {
            do {
                try value.setting.apply(&resolved, value.text)
            } catch let refusal as SettingRefusal {
                throw HeraldError.invalid("invalid \(value.named): \(refusal.expected)")
            }
            resolved.sources[value.setting.key] = value.source
        }
        // Each value's bounds, checked on the defaults (with its partner's value): a bound it breaks
        // is its own fault and the refusal names it.
        for value in given {
            var alone = Values()
            let partner = Values.partners[value.setting.key].flatMap { key in given.first { $0.setting.key == key } }
            if let partner { try partner.setting.apply(&alone, partner.text) }
            try value.setting.apply(&alone, value.text)
            do {
                try alone.check()
            } catch let error as HeraldError {
                throw HeraldError.invalid("invalid \(value.named): \(error.message)\(partner.map { " (with \($0.named))" } ?? "")")
            }
        }
        try resolved.check()
        return resolved
    }

    /// Refuses a `HERALD_` variable that is no setting but reads like one misspelt (`HERALD_CONCURENCY`,
    /// `HERALD_DATABASE_URL`). Other `HERALD_` variables (tools' own, such as `HERALD_BIN`) are left alone.
    func checkEnvironmentNames(_ settings: [Setting<Values>]) throws {
        let known = SettingCatalog.variables
        for name in environment.keys.sorted() where name.hasPrefix("HERALD_") && !known.contains(name) {
            let tail = String(name.dropFirst("HERALD_".count))
            if let near = settings.min(by: { EditDistance.between(tail, $0.key.uppercased()) < EditDistance.between(tail, $1.key.uppercased()) }),
                EditDistance.between(tail, near.key.uppercased()) <= max(2, tail.count / 5) {
                throw HeraldError.invalid(
                    "unknown setting \(name) in the environment: did you mean \(near.environmentVariable)? (\(Values.command) --help lists the settings)")
            }
        }
    }

    /// Refuses a key of the file that is no setting, with the nearest setting's key.
    func checkFileKeys(_ file: FlatTOMLProvider, _ settings: [Setting<Values>]) throws {
        let known = SettingCatalog.keys
        for (key, line) in file.keys where !known.contains(key) {
            let near = settings.min { EditDistance.between(key, $0.key) < EditDistance.between(key, $1.key) }
            let hint = near.map { EditDistance.between(key, $0.key) <= max(3, key.count / 3) ? ": did you mean \($0.key)?" : "" } ?? ""
            throw HeraldError.invalid("unknown key \(key.debugDescription) in \(file.path) line \(line)\(hint) (\(Values.command) --help lists the settings)")
        }
    }
}

/// The resolver of `herald worker`'s settings.
public typealias WorkerSettingsResolver = SettingsResolver<WorkerSettings>
