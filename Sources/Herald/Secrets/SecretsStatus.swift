public import PGDriver

/// The `secrets` line of `herald status`: whether secrets are sealed at rest, and with which key.
public enum SecretsStatus {
    /// One line: "stored in clear …" without a key, else the current key and how many endpoint secrets
    /// still wait for `herald secrets rotate-key`.
    public static func line(schema: SchemaName, keys: EncryptionKeys? = nil, on connection: PGConnection) async throws -> String {
        let keys = try keys ?? EncryptionKeys.from()
        let census = try await SecretStore(schema: schema).endpointCensus(on: connection)
        guard let keys else {
            let sealed = census.byKey.values.reduce(0, +)
            return "stored in clear (endpoint signing secrets, delivery headers): set HERALD_ENCRYPTION_KEY to seal them"
                + (sealed > 0 ? "; \(sealed) endpoint secret(s) are sealed and need the key" : "")
        }
        let current = census.byKey[keys.currentID] ?? 0
        let older = census.byKey.filter { $0.key != keys.currentID }.values.reduce(0, +)
        var line = "sealed with key \(keys.currentID) (AES-256-GCM): \(current) endpoint secret(s) under it"
        if older > 0 || census.clear > 0 {
            line += ", \(older) under older keys, \(census.clear) in clear: run `herald secrets rotate-key`"
        }
        return line
    }
}
