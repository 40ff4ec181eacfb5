public import Configuration
internal import Foundation
internal import Herald

/// A swift-configuration provider over a herald.toml (``FlatTOML``): key `batch_size` answers the
/// config key `batch_size`, as a string, whatever TOML type it was written as, so each setting reads
/// every source the same way.
public struct FlatTOMLProvider: ConfigProvider, ConfigSnapshot {
    /// The file's path as given, for sources and refusals.
    public let path: String
    let entries: [FlatTOML.Entry]
    let secretKeys: Set<String>

    public var providerName: String { "file \(path)" }

    /// Reads and parses the file at `path`.
    /// - Throws: ``HeraldError/Code/invalidInput`` when it is missing, unreadable or not the TOML subset.
    public init(path: String, secretKeys: Set<String> = []) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw HeraldError.invalid("config file \(path) \(exists ? "cannot be read" : "does not exist")")
        }
        try self.init(text: String(decoding: data, as: UTF8.self), path: path, secretKeys: secretKeys)
    }

    /// Parses `text` as the file at `path`.
    public init(text: String, path: String, secretKeys: Set<String> = []) throws {
        self.path = path
        self.entries = try FlatTOML.parse(text, file: path)
        self.secretKeys = secretKeys
    }

    /// The keys the file sets, with their line numbers.
    public var keys: [(key: String, line: Int)] { entries.map { ($0.key, $0.line) } }

    public func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let name = key.components.joined(separator: ".")
        guard let entry = entries.first(where: { $0.key == name }) else { return LookupResult(encodedKey: name, value: nil) }
        let content: ConfigContent
        switch type {
        case .string: content = .string(entry.value)
        case .int: content = .int(Int(entry.value) ?? 0)
        case .double: content = .double(Double(entry.value) ?? 0)
        case .bool: content = .bool(entry.value == "true")
        default: throw HeraldError.invalid("\(path): \(name) cannot be read as \(type)")
        }
        return LookupResult(encodedKey: name, value: ConfigValue(content, isSecret: secretKeys.contains(name)))
    }

    nonisolated(nonsending) public func fetchValue(forKey key: AbsoluteConfigKey, type: ConfigType) async throws -> LookupResult {
        try value(forKey: key, type: type)
    }

    nonisolated(nonsending) public func watchValue<Return: ~Copyable>(
        forKey key: AbsoluteConfigKey, type: ConfigType,
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<Result<LookupResult, any Error>, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchValueFromValue(forKey: key, type: type, updatesHandler: updatesHandler)
    }

    public func snapshot() -> any ConfigSnapshot { self }

    nonisolated(nonsending) public func watchSnapshot<Return: ~Copyable>(
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<any ConfigSnapshot, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchSnapshotFromSnapshot(updatesHandler: updatesHandler)
    }
}
