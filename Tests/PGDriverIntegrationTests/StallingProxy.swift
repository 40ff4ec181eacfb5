import Foundation
import Synchronization

/// A TCP relay on 127.0.0.1 to a local port that, once ``stall`` is set, accepts new connections and never
/// answers them: a cancel request (which libpq sends on a connection of its own) then blocks in `PQcancel`
/// until the relay stops. Plain sockets on threads of its own: it must keep working while the code under
/// test blocks.
final class StallingProxy: Sendable {
    let stall = Atomic<Bool>(false)
    let port: Int
    private let listener: Int32
    private let target: Int
    /// Every socket accepted or opened, and whether ``stop()`` ran. Sockets are shut down on stop but never
    /// closed: a pump thread may still hold the number, and a closed number is soon another socket of
    /// this process (NIO's, say). A test leaks a few descriptors instead.
    private let state = Mutex<(sockets: [Int32], stopped: Bool)>(([], false))

    init(to target: Int) throws {
        self.target = target
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, listen(listener, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { self.acceptLoop() }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let keep = state.withLock { s in
                s.sockets.append(client)
                return !s.stopped
            }
            guard keep else { shutdown(client, Int32(SHUT_RDWR)); return }
            if stall.load(ordering: .relaxed) { continue }  // held open, never read, never answered
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(target).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            state.withLock { $0.sockets.append(upstream) }
            guard connected else { shutdown(client, Int32(SHUT_RDWR)); continue }
            Thread.detachNewThread { Self.pump(from: client, to: upstream) }
            Thread.detachNewThread { Self.pump(from: upstream, to: client) }
        }
    }

    private static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = read(source, &buffer, buffer.count)
            guard n > 0, write(destination, buffer, n) == n else { break }
        }
        shutdown(destination, Int32(SHUT_WR))
    }

    /// Shuts every socket down, once: a stalled cancel request gets its end of file and returns.
    func stop() {
        let sockets = state.withLock { s -> [Int32]? in
            defer { s.stopped = true }
            return s.stopped ? nil : s.sockets
        }
        guard let sockets else { return }
        shutdown(listener, Int32(SHUT_RDWR))  // ends accept(); the listener itself is leaked like the rest
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
