internal import Foundation
internal import Herald

/// One worker setting: its key in herald.toml, its flag, its environment variable, and how a text value
/// is read into ``WorkerSettings`` and shown back.
///
/// Why one table of these: the flag, the variable, the file key, the default and the check of a setting
/// were written in four places (the command's literals repeated the library's defaults); now a setting is
/// one entry in ``all``, its default is ``WorkerConfiguration``'s, and every source is read the same way.
public struct WorkerSetting {
    /// The key in herald.toml and in `--print-config`: `batch_size`.
    public let key: String
    /// The flag, `--batch-size`; nil for a setting with none (the encryption key, environment or file only).
    public let flag: String?
    /// The environment variable: `HERALD_BATCH_SIZE` (a few keep older names: `DATABASE_URL`).
    public let environmentVariable: String
    /// Masked in `--print-config` and never quoted in a refusal.
    public let isSecret: Bool
    /// The value as `--print-config` shows it (secrets masked).
    let show: (WorkerSettings) -> String
    /// Reads `text` into the settings; throws ``SettingRefusal`` saying what was expected.
    let apply: (inout WorkerSettings, String) throws -> Void

    init(
        _ key: String, flag: Bool = true, environment: String? = nil, secret: Bool = false,
        show: @escaping (WorkerSettings) -> String, apply: @escaping (inout WorkerSettings, String) throws -> Void
    ) {
        self.key = key
        self.flag = flag ? "--" + key.replacingOccurrences(of: "_", with: "-") : nil
        self.environmentVariable = environment ?? "HERALD_" + key.uppercased()
        self.isSecret = secret
        self.show = show
        self.apply = apply
    }

    /// The default, as the help and `--print-config` show it.
    public var defaultText: String { show(WorkerSettings()) }

    /// The setting with this key, if any.
    public static func named(_ key: String) -> WorkerSetting? { all.first { $0.key == key } }

    // MARK: Kinds

    static func integer(_ key: String, _ range: ClosedRange<Int>, _ path: WritableKeyPath<WorkerConfiguration, Int>) -> WorkerSetting {
        WorkerSetting(key, show: { "\($0.configuration[keyPath: path])" }) { settings, text in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw SettingRefusal("expected a whole number \(range.lowerBound)-\(range.upperBound)")
            }
            settings.configuration[keyPath: path] = value
        }
    }

    static func duration(_ key: String, _ path: WritableKeyPath<WorkerConfiguration, Duration>) -> WorkerSetting {
        WorkerSetting(key, show: { DurationDisplay.text($0.configuration[keyPath: path]) }) { settings, text in
            settings.configuration[keyPath: path] = try DurationDisplay.parse(text)
        }
    }

    static func text(_ key: String, _ path: WritableKeyPath<WorkerConfiguration, String>) -> WorkerSetting {
        WorkerSetting(key, show: { $0.configuration[keyPath: path] }) { settings, text in
            guard !text.isEmpty else { throw SettingRefusal("expected a non-empty value") }
            settings.configuration[keyPath: path] = text
        }
    }

    static func choice(_ key: String, _ choices: [String], _ path: WritableKeyPath<WorkerSettings, String>) -> WorkerSetting {
        WorkerSetting(key, show: { $0[keyPath: path] }) { settings, text in
            guard choices.contains(text) else { throw SettingRefusal("expected one of \(choices.joined(separator: ", "))") }
            settings[keyPath: path] = text
        }
    }
}
