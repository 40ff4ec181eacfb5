import Foundation
import Synchronization

/// Appends one JSON line per request event (`start`/`end`, idempotency key, path, status, wall-clock ns
/// since 1970, comparable with PostgreSQL timestamps on the same machine).
final class Journal: Sendable {
    private let handle: Mutex<FileHandle>

    init(path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        handle = Mutex(try FileHandle(forWritingTo: URL(fileURLWithPath: path)))
    }

    func record(_ event: String, key: String, path: String, status: Int?) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let ns = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        let escapedKey = key.replacingOccurrences(of: "\"", with: "")
        let escapedPath = path.replacingOccurrences(of: "\"", with: "")
        let line = "{\"event\":\"\(event)\",\"key\":\"\(escapedKey)\",\"path\":\"\(escapedPath)\",\"status\":\(status.map(String.init) ?? "null"),\"ns\":\(ns)}\n"
        handle.withLock { $0.write(Data(line.utf8)) }
    }
}
