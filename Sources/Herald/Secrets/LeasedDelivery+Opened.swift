/// A leased delivery's sealed values, opened for its send.
extension LeasedDelivery {
    /// This delivery with its endpoint's secrets and its headers in clear (values stored in clear pass
    /// through). Throws when a value is sealed and `keys` cannot open it.
    func opened(with keys: EncryptionKeys?) throws -> LeasedDelivery {
        var copy = self
        copy.secret = try EncryptionKeys.open(secret: secret, with: keys)
        copy.previousSecret = try previousSecret.map { try EncryptionKeys.open(secret: $0, with: keys) }
        copy.headers = try EncryptionKeys.open(headers: headers, with: keys)
        copy.endpointHeaders = try EncryptionKeys.open(headers: endpointHeaders, with: keys)
        return copy
    }
}
