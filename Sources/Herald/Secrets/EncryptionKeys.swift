public import Foundation
internal import Crypto

/// The keys that encrypt signing secrets and producer headers at rest (AES-256-GCM), from
/// `HERALD_ENCRYPTION_KEY`.
///
/// The variable holds one or more base64 keys of 32 random bytes, separated by commas
/// (`openssl rand -base64 32`). The first seals new values; every one of them opens values, so a key is
/// rotated by putting the new one first, running `herald secrets rotate-key`, and then dropping the old.
/// Each sealed value names its key by id (`k` + 8 hex digits of the key's SHA-256), never the key.
///
/// A sealed value is text: `sealed:v1:<key id>:<base64 of nonce, ciphertext and tag>`. The column it
/// belongs to is authenticated with it (AES-GCM's additional data), so a sealed secret copied into another
/// column does not open.
public struct EncryptionKeys: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What a sealed value is, for the additional authenticated data.
    public enum Column: String, Sendable {
        case endpointSecret = "endpoints.secret"
        case deliveryHeaders = "deliveries.headers"
    }

    /// A sealed value could not be opened with the keys given (retryable: the operator can supply the key).
    struct Unavailable: Error {
        static let message = "cannot open the endpoint's sealed secret or the delivery's sealed headers: "
            + "give this worker the key that sealed them in HERALD_ENCRYPTION_KEY"
    }

    /// The prefix of every sealed value.
    public static let prefix = "sealed:v1:"
    /// The JSON key under which a delivery's sealed headers are stored: parentheses cannot appear in a
    /// header name, so no producer header can be mistaken for it.
    public static let sealedHeadersKey = "(sealed)"

    /// Key bytes, not `SymmetricKey`s: those are not `Sendable`; one is made per use.
    let keys: [(id: String, bytes: [UInt8])]

    /// The id of the key that seals.
    public var currentID: String { keys[0].id }
    /// Every key id, current first.
    public var ids: [String] { keys.map(\.id) }

    /// Key ids only: the default description of a struct would print the key bytes into any log.
    public var description: String { "EncryptionKeys(\(ids.joined(separator: ", ")))" }
    public var debugDescription: String { description }

    /// Parses the variable's value.
    /// - Throws: ``HeraldError/Code/invalidInput`` saying which entry is wrong (never its value).
    public init(_ text: String) throws {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !entries.isEmpty else { throw HeraldError.invalid("HERALD_ENCRYPTION_KEY is empty: give base64 of 32 random bytes (openssl rand -base64 32)") }
        var keys: [(String, [UInt8])] = []
        for (index, entry) in entries.enumerated() {
            guard let bytes = Data(base64Encoded: entry), bytes.count == 32 else {
                throw HeraldError.invalid("HERALD_ENCRYPTION_KEY entry \(index + 1) is not base64 of exactly 32 bytes (openssl rand -base64 32)")
            }
            let id = "k" + SHA256.hash(data: bytes).prefix(4).map { String(format: "%02x", $0) }.joined()
            if !keys.contains(where: { $0.0 == id }) { keys.append((id, Array(bytes))) }
        }
        self.keys = keys
    }

    /// The keys from `HERALD_ENCRYPTION_KEY` in `environment`, or nil when it is unset or empty (values are
    /// then stored in clear, as before).
    public static func from(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> EncryptionKeys? {
        guard let text = environment["HERALD_ENCRYPTION_KEY"], !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return try EncryptionKeys(text)
    }

    /// Whether `stored` is a sealed value (of any key).
    public static func isSealed(_ stored: String) -> Bool { stored.hasPrefix(prefix) }

    /// The key id a sealed value names, or nil for a value in clear.
    public static func keyID(of stored: String) -> String? {
        guard isSealed(stored) else { return nil }
        return stored.dropFirst(prefix.count).split(separator: ":", maxSplits: 1).first.map(String.init)
    }

    /// `plaintext` sealed with the current key for `column`.
    public func seal(_ plaintext: String, for column: Column) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: SymmetricKey(data: keys[0].bytes), authenticating: Data(column.rawValue.utf8))
        guard let combined = box.combined else { throw HeraldError.invalid("AES-GCM produced no output") }
        return Self.prefix + keys[0].id + ":" + combined.base64EncodedString()
    }

    /// The plaintext of `stored`; a value in clear is returned as it is.
    /// - Throws: ``HeraldError/Code/invalidInput`` when the value names a key not given, or does not open.
    public func open(_ stored: String, for column: Column) throws -> String {
        guard Self.isSealed(stored) else { return stored }
        let parts = stored.dropFirst(Self.prefix.count).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let combined = Data(base64Encoded: String(parts[1])) else {
            throw HeraldError.invalid("a sealed value in \(column.rawValue) is malformed")
        }
        guard let key = keys.first(where: { $0.id == parts[0] }).map({ SymmetricKey(data: $0.bytes) }) else {
            throw HeraldError.invalid("a value in \(column.rawValue) is sealed with key \(parts[0]), which HERALD_ENCRYPTION_KEY does not hold")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            return String(decoding: try AES.GCM.open(box, using: key, authenticating: Data(column.rawValue.utf8)), as: UTF8.self)
        } catch {
            throw HeraldError.invalid("a value in \(column.rawValue) sealed with key \(parts[0]) does not open (altered, or moved from another column)")
        }
    }

    /// Whether `stored` should be (re)sealed: it is in clear, or sealed with another key than the current.
    public func needsSealing(_ stored: String) -> Bool { Self.keyID(of: stored) != currentID }

    /// A delivery's headers, sealed as one value under ``sealedHeadersKey``; no headers stay `{}`.
    public func seal(headers: [String: String]) throws -> [String: String] {
        guard !headers.isEmpty else { return [:] }
        if let sealed = headers[Self.sealedHeadersKey], headers.count == 1, !needsSealing(sealed) { return headers }
        let clear = try Self.open(headers: headers, with: self)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: clear, options: [.sortedKeys]), as: UTF8.self)
        return [Self.sealedHeadersKey: try seal(json, for: .deliveryHeaders)]
    }

    /// A delivery's headers in clear, whether stored sealed or not; `keys` may be nil for headers in clear.
    public static func open(headers: [String: String], with keys: EncryptionKeys?) throws -> [String: String] {
        guard let sealed = headers[sealedHeadersKey], headers.count == 1 else { return headers }
        guard let keys else {
            throw HeraldError.invalid("a delivery's headers are sealed with key \(keyID(of: sealed) ?? "?"): set HERALD_ENCRYPTION_KEY")
        }
        let json = try keys.open(sealed, for: .deliveryHeaders)
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String] else {
            throw HeraldError.invalid("a delivery's sealed headers are not a JSON object of strings")
        }
        return object
    }

    /// A stored secret in clear; `keys` may be nil for a secret in clear.
    public static func open(secret stored: String, with keys: EncryptionKeys?) throws -> String {
        guard isSealed(stored) else { return stored }
        guard let keys else {
            throw HeraldError.invalid("the endpoint's secret is sealed with key \(keyID(of: stored) ?? "?"): set HERALD_ENCRYPTION_KEY")
        }
        return try keys.open(stored, for: .endpointSecret)
    }
}
