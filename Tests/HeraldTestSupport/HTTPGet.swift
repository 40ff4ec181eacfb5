import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A plain GET against 127.0.0.1, for probing a worker's metrics server.
public enum HTTPGet {
    public static func fetch(_ url: String) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Runs `promtool check metrics` on `text`; returns its exit status and output.
    public static func promtool(_ text: String) throws -> Shell.Output {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        guard let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestSupportError("promtool not found: apt-get install prometheus (Debian) provides it")
        }
        return try Shell.run("/bin/sh", ["-c", "\(promtool) check metrics < \(file.path)"])
    }
}
