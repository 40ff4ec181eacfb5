internal import Foundation
public import Herald
internal import NIOSSL

/// The certificate and key `herald serve --tls-cert/--tls-key` serves HTTPS with (PEM files).
///
/// Why load at start-up and not on first connection: a wrong path, a file that is not PEM or a key that
/// does not match the certificate is an operator's mistake that should stop `herald serve` at once with a
/// message naming the file, not surface as failed handshakes later. HummingbirdTLS (NIOSSL, BoringSSL)
/// terminates TLS; NIOSSL was built already for AsyncHTTPClient, so this adds little to a build.
public struct ServerTLS: Sendable, Hashable {
    /// The certificate chain: the server's certificate first, then intermediates.
    public var certificatePath: String
    /// The certificate's private key, unencrypted.
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// Reads both files and builds a TLS context from them, so every mistake shows here.
    /// - Throws: ``HeraldError/Code/invalidInput`` naming the file and what is wrong with it.
    public func check() throws {
        let configuration = try configuration()
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw HeraldError.invalid("--tls-key \(keyPath) does not go with --tls-cert \(certificatePath) (\(error))")
        }
    }

    /// The server configuration for HummingbirdTLS (TLS 1.2 and later, NIOSSL's default ciphers).
    func configuration() throws -> TLSConfiguration {
        let certificates = try read(certificatePath, flag: "--tls-cert", what: "certificate") { try NIOSSLCertificate.fromPEMFile($0) }
        guard !certificates.isEmpty else {
            throw HeraldError.invalid("--tls-cert \(certificatePath) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        let key = try read(keyPath, flag: "--tls-key", what: "private key") { try NIOSSLPrivateKey(file: $0, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    private func read<T>(_ path: String, flag: String, what: String, _ load: (String) throws -> T) throws -> T {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw HeraldError.invalid("cannot read \(flag) \(path): no such file, or no permission to read it")
        }
        do {
            return try load(path)
        } catch {
            throw HeraldError.invalid("\(flag) \(path) is not a PEM \(what) (\(error))")
        }
    }
}
