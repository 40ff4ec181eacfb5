internal import Configuration
internal import Synchronization

/// Remembers which provider answered the last lookup, so the resolver can say where a value came from.
///
/// Why an access reporter: ``ConfigReader`` asks its providers in order and returns the first value;
/// the report of that lookup is the one place that says which provider it was.
final class SourceRecorder: AccessReporter {
    private let last = Mutex<Int?>(nil)

    func report(_ event: AccessEvent) {
        let index = event.providerResults.firstIndex { result in
            if case .success(let lookup) = result.result { return lookup.value != nil }
            return false
        }
        last.withLock { $0 = index }
    }

    /// The index (in the reader's provider order) of the provider that answered the last lookup.
    func takeAnsweringProvider() -> Int? { last.withLock { value in defer { value = nil }; return value } }
}
