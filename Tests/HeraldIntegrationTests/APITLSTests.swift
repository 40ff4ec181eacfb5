import AsyncHTTPClient
import Foundation
import HeraldTestSupport
import NIOCore
import NIOSSL
import Testing

/// `herald serve --tls-cert/--tls-key`: HTTPS with the operator's certificate, nothing in clear, and a
/// clear refusal of a half or broken configuration before the server starts.
@Suite("API over TLS")
struct APITLSTests {
    static let openssl = "/usr/bin/openssl"

    /// A self-signed certificate for 127.0.0.1 (P-256, one day) and its key, made by openssl in `directory`.
    func certificate(in directory: URL, name: String = "server") throws -> (cert: String, key: String) {
        guard FileManager.default.isExecutableFile(atPath: Self.openssl) else {
            throw TestSupportError("openssl is not installed: run `scripts/install-deps.sh --test` (apt-get install openssl)")
        }
        let cert = directory.appendingPathComponent("\(name).crt").path
        let key = directory.appendingPathComponent("\(name).key").path
        let made = try Shell.run(Self.openssl, [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
            "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        guard made.status == 0 else { throw TestSupportError("openssl req: \(made.output)") }
        return (cert, key)
    }

    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("HTTPS: /healthz answers a client trusting the certificate; one that does not trust it and plain HTTP get nothing")
    func https() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try certificate(in: directory)
        let pg = try await TestPostgres.shared()
        let (schema, connection) = try await pg.migratedSchema("tls")
        await connection.close()
        let server = try await ServeProcess(pg, schema: schema, ["--tls-cert", cert, "--tls-key", key])
        #expect(server.process.output.contains("scheme=https"), "\(server.process.output)")

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        let trusting = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        let answer = try await trusting.execute(HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/healthz"), timeout: .seconds(10))
        #expect(answer.status == .ok)
        #expect(String(buffer: try await answer.body.collect(upTo: 1024)) == "ok\n")
        await #expect(throws: (any Error).self, "a client that does not trust the certificate refuses it") {
            _ = try await plain.execute(HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/healthz"), timeout: .seconds(10))
        }
        await #expect(throws: (any Error).self, "plain HTTP to the HTTPS port gets no answer") {
            _ = try await plain.execute(HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/healthz"), timeout: .seconds(10))
        }
        try await trusting.shutdown()
        try await plain.shutdown()
        server.process.signal(SIGTERM)
        #expect(try await server.process.waitForExit() == 0, "\(server.process.output)")
    }

    @Test("half a TLS configuration, an unreadable file, a file that is not PEM, a key of another certificate: exit 64 saying so")
    func refused() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try certificate(in: directory)
        let (_, otherKey) = try certificate(in: directory, name: "other")
        let garbage = directory.appendingPathComponent("garbage.pem").path
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
        let cases: [([String], String)] = [
            (["--tls-cert", cert], "give both --tls-cert and --tls-key"),
            (["--tls-key", key], "give both --tls-cert and --tls-key"),
            (["--tls-cert", directory.path + "/missing.crt", "--tls-key", key], "cannot read --tls-cert \(directory.path)/missing.crt"),
            (["--tls-cert", cert, "--tls-key", directory.path + "/missing.key"], "cannot read --tls-key \(directory.path)/missing.key"),
            (["--tls-cert", garbage, "--tls-key", key], "--tls-cert \(garbage) "),
            (["--tls-cert", cert, "--tls-key", garbage], "--tls-key \(garbage) is not a PEM private key"),
            (["--tls-cert", cert, "--tls-key", otherKey], "does not go with --tls-cert"),
        ]
        for (flags, message) in cases {
            // No database: the flags are checked before anything connects.
            let run = try await HeraldBinary.run(["serve", "--database-url", "postgres://127.0.0.1:1/none"] + flags)
            #expect(run.status == 64, "\(flags): \(run.stderr)")
            #expect(run.stderr.contains(message), "\(flags): \(run.stderr)")
        }
    }
}
