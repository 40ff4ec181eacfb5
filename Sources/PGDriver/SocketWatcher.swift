internal import Foundation
internal import Synchronization

/// One thread that waits for many connections' sockets at once.
///
/// Why: a slot holds its lease's transaction open across its HTTP sends and watches the connection the
/// whole time, so that it learns at once if the server ends the transaction. Watching with a blocking
/// `poll` on the connection's own queue held one Dispatch thread per slot for the whole send, so a worker
/// with hundreds of slots ran into Dispatch's thread limit. Here every watch is one entry in a single
/// `poll` set; the connection's queue is used only for the moment it takes to read what arrived. (It was
/// not what limited many slots' throughput: the database was; docs/benchmarks.md, section 4b.)
///
/// Level-triggered and one-shot: a watch ends at the first readiness (or hang-up, or error) of its socket
/// and the caller reads the socket before it watches again, so a socket never spins the loop.
final class SocketWatcher: Sendable {
    static let shared = SocketWatcher()

    private struct Watch {
        var fd: Int32
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var next = 0
        var watches: [Int: Watch] = [:]
    }

    private let state = Mutex(State())
    private let wake: (read: Int32, write: Int32)

    private init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wake = (fds[0], fds[1])
        let thread = Thread { [self] in loop() }
        thread.name = "pgdriver.socket-watcher"
        thread.start()
    }

    /// Returns when `fd` is readable, hung up or in error; throws `CancellationError` if the task is
    /// cancelled first.
    func readable(_ fd: Int32) async throws {
        let token = state.withLock { state in
            state.next += 1
            return state.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Cancelled before the watch existed: the handler below found nothing to end.
                let added = state.withLock { state in
                    guard !Task.isCancelled else { return false }
                    state.watches[token] = Watch(fd: fd, continuation: continuation)
                    return true
                }
                guard added else { return continuation.resume(throwing: CancellationError()) }
                poke()
            }
        } onCancel: {
            state.withLock { $0.watches.removeValue(forKey: token) }?.continuation.resume(throwing: CancellationError())
            poke()
        }
    }

    /// Makes the loop's `poll` return, so it picks up new watches and forgets ended ones.
    private func poke() {
        var byte: UInt8 = 1
        _ = Foundation.write(wake.write, &byte, 1)
    }

    private func loop() {
        var scratch = [UInt8](repeating: 0, count: 256)
        while true {
            let watched = state.withLock { $0.watches.map { ($0.key, $0.value.fd) } }
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            fds += watched.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 { continue }  // EINTR; nothing else can fail with these arguments
            if fds[0].revents != 0 { while Foundation.read(wake.read, &scratch, scratch.count) > 0 {} }
            let tokens = zip(watched, fds.dropFirst()).filter { $0.1.revents != 0 }.map(\.0.0)
            guard !tokens.isEmpty else { continue }
            let ended = state.withLock { state in tokens.compactMap { state.watches.removeValue(forKey: $0)?.continuation } }
            for continuation in ended { continuation.resume() }
        }
    }
}
