internal import Synchronization

/// Runs work for at most a given time, returning at the limit even if the work does not stop.
///
/// Why not a task group: a group waits for every child, so a child that ignores cancellation (a blocked
/// `getaddrinfo`) would hold the send past its timeout. Here the work runs in a task of its own; at the
/// limit, or when the caller is cancelled, that task is cancelled and the caller resumes at once. The work
/// may then finish later in the background; its result is dropped.
enum TimeLimit {
    /// How a limited run ended.
    enum Ending<T: Sendable>: Sendable {
        case finished(T)
        case timedOut
        case cancelled
    }

    static func run<T: Sendable>(within limit: Duration, _ work: @escaping @Sendable () async -> T) async -> Ending<T> {
        let race = Race<T>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Ending<T>, Never>) in
                race.start(continuation)
                race.add(Task { race.finish(.finished(await work())) })
                race.add(
                    Task {
                        guard (try? await Task.sleep(for: limit)) != nil else { return }
                        race.finish(.timedOut)
                    })
                if Task.isCancelled { race.finish(.cancelled) }
            }
        } onCancel: {
            race.finish(.cancelled)
        }
    }

    /// The first of work, timer and cancellation to finish resumes the caller; the others are cancelled.
    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Ending<T>, Never>?
            var done = false
            var tasks: [Task<Void, Never>] = []
        }
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<Ending<T>, Never>) {
            state.withLock { $0.continuation = continuation }
        }

        /// Registers a task; cancels it at once if the race is already over.
        func add(_ task: Task<Void, Never>) {
            let over = state.withLock { s in
                if !s.done { s.tasks.append(task) }
                return s.done
            }
            if over { task.cancel() }
        }

        func finish(_ ending: Ending<T>) {
            let taken = state.withLock { s -> (CheckedContinuation<Ending<T>, Never>, [Task<Void, Never>])? in
                // Cancellation can arrive before the continuation exists; it then ends the race on start.
                guard !s.done, let continuation = s.continuation else {
                    return nil
                }
                s.done = true
                s.continuation = nil
                defer { s.tasks = [] }
                return (continuation, s.tasks)
            }
            guard let (continuation, tasks) = taken else { return }
            for task in tasks { task.cancel() }
            continuation.resume(returning: ending)
        }
    }
}
