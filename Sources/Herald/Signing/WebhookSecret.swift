internal import Foundation

/// An endpoint's signing secret in the Standard Webhooks format: `whsec_` + base64 of 24 to 64 bytes.
///
/// `description` never shows the key: a secret that reaches a log line by accident prints as `whsec_***`.
public struct WebhookSecret: Sendable, Hashable, CustomStringConvertible {
    /// The decoded key bytes used for HMAC.
    public let key: [UInt8]
    /// The secret as stored, `whsec_…`.
    public let encoded: String

    /// Parses and validates `whsec_<base64>`.
    /// - Throws: ``HeraldError/Code/invalidInput`` saying what the format must be.
    public init(_ encoded: String) throws {
        guard encoded.hasPrefix("whsec_"), let data = Data(base64Encoded: String(encoded.dropFirst(6))),
            (24...64).contains(data.count)
        else {
            throw HeraldError.invalid("invalid signing secret: expected whsec_ followed by base64 of 24 to 64 bytes")
        }
        self.key = Array(data)
        self.encoded = encoded
    }

    /// A new random secret of 32 bytes.
    public static func generate(using random: inout some RandomNumberGenerator) -> WebhookSecret {
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        // 32 bytes is within 24…64 by construction.
        return try! WebhookSecret("whsec_" + Data(bytes).base64EncodedString())
    }

    public var description: String { "whsec_***" }
}
