internal import Foundation
internal import Crypto

/// A bearer token of the admin API: `hrld_<id>_<secret>`.
///
/// Why this shape: the `id` (public, 12 characters) lets the server find the one row to check with an
/// indexed read, and lets an operator name the token (`herald tokens revoke <id>`) without holding it; the
/// `secret` (32 random bytes, base32) is what makes it unguessable. The database keeps only the SHA-256
/// of the whole text, so the token is shown exactly once, by `herald tokens create`.
public struct APIToken: Sendable, Hashable, CustomStringConvertible {
    /// Every token starts with this, so secret scanners (and people) recognise one.
    public static let prefix = "hrld_"

    /// The public part: 12 lower-case letters and digits.
    public let id: String
    /// The whole token text, shown once.
    public let text: String

    /// A new random token. `random` is injected so tests can fix it.
    public static func generate(using random: inout some RandomNumberGenerator) -> APIToken {
        let id = String((0..<12).map { _ in alphabet.randomElement(using: &random)! })
        let secret = String((0..<52).map { _ in alphabet.randomElement(using: &random)! })
        return APIToken(id: id, text: prefix + id + "_" + secret)
    }

    /// A new token from the system's secure random source.
    public static func generate() -> APIToken {
        var rng = SystemRandomNumberGenerator()
        return generate(using: &rng)
    }

    /// Reads a presented token; nil when it does not have the shape of one (no database read is needed to
    /// refuse it).
    public init?(parsing text: String) {
        guard text.hasPrefix(Self.prefix), text.utf8.count <= 200 else { return nil }
        let rest = text.dropFirst(Self.prefix.count)
        let parts = rest.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, (8...32).contains(parts[0].count), parts[1].count >= 16,
              parts.allSatisfy({ $0.allSatisfy { Self.alphabet.contains($0) } }) else { return nil }
        self.init(id: String(parts[0]), text: text)
    }

    private init(id: String, text: String) {
        self.id = id
        self.text = text
    }

    /// SHA-256 of the token text: what the database stores.
    public var sha256: [UInt8] { Array(SHA256.hash(data: Data(text.utf8))) }

    /// Whether two hashes are equal, in time that does not depend on where they differ (a timing side
    /// channel would otherwise reveal a stored hash byte by byte).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// Never the secret: a token in a log line shows only its id.
    public var description: String { Self.prefix + id + "_…" }

    /// Lower-case base32-like letters and digits: no characters that need escaping anywhere.
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
}
