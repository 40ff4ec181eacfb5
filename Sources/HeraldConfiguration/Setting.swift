internal import Foundation
internal import Herald

/// One setting of a long-running command (`herald worker`, `herald serve`): its key in herald.toml, its
/// flag, its environment variable, and how a text value is read into `Values` and shown back.
///
/// Why one table of these: the flag, the variable, the file key, the default and the check of a setting
/// were written in four places (the command's literals repeated the library's defaults); now a setting is
/// one entry in its command's table (``SettingValues/settings``), its default is the library's, and every
/// source is read the same way by ``SettingsResolver``.
public struct Setting<Values: SettingValues> {
    /// The key in herald.toml and in `--print-config`: `batch_size`.
    public let key: String
    /// The flag, `--batch-size`; nil for a setting with none (the encryption key, environment or file only).
    public let flag: String?
    /// The environment variable: `HERALD_BATCH_SIZE` (a few keep older names: `DATABASE_URL`).
    public let environmentVariable: String
    /// Masked in `--print-config` and never quoted in a refusal.
    public let isSecret: Bool
    /// The value as `--print-config` shows it (secrets masked).
    let show: (Values) -> String
    /// Reads `text` into the settings; throws ``SettingRefusal`` saying what was expected.
    let apply: (inout Values, String) throws -> Void

    init(
        _ key: String, flag: Bool = true, environment: String? = nil, secret: Bool = false,
        show: @escaping (Values) -> String, apply: @escaping (inout Values, String) throws -> Void
    ) {
        self.key = key
        self.flag = flag ? "--" + key.replacingOccurrences(of: "_", with: "-") : nil
        self.environmentVariable = environment ?? "HERALD_" + key.uppercased()
        self.isSecret = secret
        self.show = show
        self.apply = apply
    }

    /// The default, as the help and `--print-config` show it.
    public var defaultText: String { show(Values()) }

    /// The setting with this key, if any.
    public static func named(_ key: String) -> Setting? { Values.settings.first { $0.key == key } }

    /// One of `choices`, as typed.
    static func choice(_ key: String, _ choices: [String], _ path: WritableKeyPath<Values, String>) -> Setting {
        Setting(key, show: { $0[keyPath: path] }) { settings, text in
            guard choices.contains(text) else { throw SettingRefusal("expected one of \(choices.joined(separator: ", "))") }
            settings[keyPath: path] = text
        }
    }

    // MARK: Kinds

    static func integer(_ key: String, _ range: ClosedRange<Int>, _ path: WritableKeyPath<Values, Int>) -> Setting {
        Setting(key, show: { "\($0[keyPath: path])" }) { settings, text in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw SettingRefusal("expected a whole number \(range.lowerBound)-\(range.upperBound)")
            }
            settings[keyPath: path] = value
        }
    }

    /// A size: whole bytes, or with a binary unit (`512KiB`, `64MiB`, `2GiB`); shown in the largest unit
    /// that divides it.
    static func bytes(_ key: String, _ range: ClosedRange<Int>, _ path: WritableKeyPath<Values, Int>) -> Setting {
        Setting(key, show: { ByteSizeText.text($0[keyPath: path]) }) { settings, text in
            guard let value = ByteSizeText.parse(text) else {
                throw SettingRefusal("expected a size such as 64MiB (bytes, KiB, MiB or GiB), \(ByteSizeText.text(range.lowerBound))-\(ByteSizeText.text(range.upperBound))")
            }
            settings[keyPath: path] = value
        }
    }

    static func duration(_ key: String, _ path: WritableKeyPath<Values, Duration>) -> Setting {
        Setting(key, show: { DurationDisplay.text($0[keyPath: path]) }) { settings, text in
            settings[keyPath: path] = try DurationDisplay.parse(text)
        }
    }

    static func text(_ key: String, _ path: WritableKeyPath<Values, String>) -> Setting {
        Setting(key, show: { $0[keyPath: path] }) { settings, text in
            guard !text.isEmpty else { throw SettingRefusal("expected a non-empty value") }
            settings[keyPath: path] = text
        }
    }
}
