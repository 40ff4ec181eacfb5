internal import Foundation
internal import Herald

/// The settings every long-running command has: where the database is, the schema, logging, the
/// encryption key. One definition each, so `herald worker` and `herald serve` read them alike.
extension Setting {
    /// `DATABASE_URL` (not `HERALD_DATABASE_URL`: the variable every PostgreSQL tool knows). Secret.
    static func databaseURL(_ path: WritableKeyPath<Values, String>) -> Setting {
        Setting("database_url", environment: "DATABASE_URL", secret: true,
            show: { SecretMask.connectionString($0[keyPath: path]) },
            apply: { settings, text in settings[keyPath: path] = text })
    }

    static func schema(_ path: WritableKeyPath<Values, SchemaName>) -> Setting {
        Setting("schema", show: { $0[keyPath: path].rawValue }) { settings, text in
            do { settings[keyPath: path] = try SchemaName(text) } catch let error as HeraldError { throw SettingRefusal(error.message) }
        }
    }

    static func logLevel(_ path: WritableKeyPath<Values, String>) -> Setting {
        .choice("log_level", ["trace", "debug", "info", "notice", "warning", "error", "critical"], path)
    }

    static func logFormat(_ path: WritableKeyPath<Values, String>) -> Setting {
        .choice("log_format", ["text", "json"], path)
    }

    /// `HERALD_ENCRYPTION_KEY` (environment or file only: a flag would put it in `ps` output). Secret.
    static func encryptionKey(_ path: WritableKeyPath<Values, EncryptionKeys?>) -> Setting {
        Setting("encryption_key", flag: false, environment: "HERALD_ENCRYPTION_KEY", secret: true,
            show: { $0[keyPath: path].map { "(masked; keys \($0.ids.joined(separator: ", ")))" } ?? "(none: stored in clear)" },
            apply: { settings, text in
                guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { settings[keyPath: path] = nil; return }
                do { settings[keyPath: path] = try EncryptionKeys(text) } catch let error as HeraldError {
                    throw SettingRefusal(error.message.replacingOccurrences(of: "HERALD_ENCRYPTION_KEY ", with: ""))
                }
            })
    }
}
