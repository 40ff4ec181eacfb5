internal import Crypto
internal import Foundation

/// Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
///
/// Each attempt signs anew with the current time, so a receiver can reject replays by timestamp while the
/// id and body stay identical across attempts. During a secret rotation the header carries one signature
/// per valid secret, space-separated, as the specification allows.
public enum WebhookSigner {
    /// One `v1,…` signature.
    public static func signature(id: String, timestamp: Int, body: [UInt8], secret: WebhookSecret) -> String {
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret.key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The `webhook-signature` header value for every secret in `secrets`.
    public static func header(id: String, timestamp: Int, body: [UInt8], secrets: [WebhookSecret]) -> String {
        secrets.map { signature(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }
}
