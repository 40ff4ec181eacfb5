import Foundation
import Herald
import Testing

@Suite("EncryptionKeys: sealing secrets and headers at rest")
struct EncryptionKeysTests {
    static let one = Data(repeating: 1, count: 32).base64EncodedString()
    static let two = Data(repeating: 2, count: 32).base64EncodedString()

    @Test("bad keys are refused without echoing them", arguments: ["", " , ", "not base64!", Data(repeating: 1, count: 16).base64EncodedString(), "\(one),short"])
    func badKeys(_ text: String) {
        let error = #expect(throws: HeraldError.self) { try EncryptionKeys(text) }
        #expect(error?.message.contains("HERALD_ENCRYPTION_KEY") == true)
        if !text.isEmpty { #expect(error?.message.contains(text) == false) }
    }

    @Test("unset or empty means in clear")
    func unset() throws {
        #expect(try EncryptionKeys.from(environment: [:]) == nil)
        #expect(try EncryptionKeys.from(environment: ["HERALD_ENCRYPTION_KEY": " "]) == nil)
        #expect(try EncryptionKeys.from(environment: ["HERALD_ENCRYPTION_KEY": Self.one])?.ids.count == 1)
    }

    @Test("a value seals, names its key, opens, and differs every time")
    func roundTrip() throws {
        let keys = try EncryptionKeys(Self.one)
        let secret = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
        let a = try keys.seal(secret, for: .endpointSecret)
        let b = try keys.seal(secret, for: .endpointSecret)
        #expect(a != b)
        #expect(!a.contains(secret) && !a.contains("c2VjcmV0"))
        #expect(EncryptionKeys.keyID(of: a) == keys.currentID)
        #expect(keys.currentID.count == 9 && keys.currentID.hasPrefix("k"))
        #expect(try keys.open(a, for: .endpointSecret) == secret)
        #expect(try keys.open(secret, for: .endpointSecret) == secret, "a value in clear passes through")
        #expect(!keys.needsSealing(a) && keys.needsSealing(secret))
        #expect("\(keys)" == "EncryptionKeys(\(keys.currentID))" && String(reflecting: keys) == "\(keys)", "never the key bytes")
    }

    @Test("a sealed value does not open in another column, under an unknown key, or altered")
    func refusals() throws {
        let keys = try EncryptionKeys(Self.one)
        let sealed = try keys.seal("whsec_x", for: .endpointSecret)
        #expect(throws: HeraldError.self) { try keys.open(sealed, for: .deliveryHeaders) }
        #expect(throws: HeraldError.self) { try EncryptionKeys(Self.two).open(sealed, for: .endpointSecret) }
        var altered = Array(sealed)
        altered[altered.count - 3] = altered[altered.count - 3] == "A" ? "B" : "A"
        #expect(throws: HeraldError.self) { try keys.open(String(altered), for: .endpointSecret) }
        #expect(throws: HeraldError.self) { try EncryptionKeys.open(secret: sealed, with: nil) }
    }

    @Test("rotation: the new key first, the old one still opens; its values need resealing")
    func rotation() throws {
        let old = try EncryptionKeys(Self.one)
        let both = try EncryptionKeys("\(Self.two),\(Self.one)")
        let sealedOld = try old.seal("whsec_x", for: .endpointSecret)
        #expect(both.currentID != old.currentID)
        #expect(try both.open(sealedOld, for: .endpointSecret) == "whsec_x")
        #expect(both.needsSealing(sealedOld))
        #expect(!both.needsSealing(try both.seal("whsec_x", for: .endpointSecret)))
    }

    @Test("headers seal as one value and open back; none stay none")
    func headers() throws {
        let keys = try EncryptionKeys(Self.one)
        let clear = ["Authorization": "Bearer sk_live_1", "X-Api-Key": "k"]
        let sealed = try keys.seal(headers: clear)
        #expect(sealed.keys.sorted() == [EncryptionKeys.sealedHeadersKey])
        #expect(!sealed.values.joined().contains("sk_live_1"))
        #expect(try EncryptionKeys.open(headers: sealed, with: keys) == clear)
        #expect(try keys.seal(headers: sealed) == sealed, "already sealed with the current key: unchanged")
        #expect(try keys.seal(headers: [:]) == [:])
        #expect(try EncryptionKeys.open(headers: clear, with: nil) == clear)
        #expect(throws: HeraldError.self) { try EncryptionKeys.open(headers: sealed, with: nil) }
    }
}
