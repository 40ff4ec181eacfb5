internal import PGDriver

/// Turns the database's refusals into ``HeraldError``s for the operator stores.
///
/// Why beside `DeliveryStore.heraldError`: that one maps the validation errors the SQL functions raise
/// (22023); the operator stores also write columns whose CHECK constraints are the last word on a range
/// (a backoff cap below its base, a retention outside 1-3650 days). A value the user gave that a CHECK
/// refuses is invalid input (exit 64), not a database failure (exit 1).
enum DatabaseErrors {
    /// `error` as Herald reports it: 22023 and CHECK violations (23514) are invalid input.
    static func herald(_ error: PGError) -> HeraldError {
        if error.code == .server, error.sqlState == "23514" {
            return HeraldError(.invalidInput, "the database refused a value: \(error.message)")
        }
        return DeliveryStore.heraldError(error)
    }

    /// Runs `body`, mapping a ``PGError`` it throws with ``herald(_:)``.
    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as PGError { throw herald(error) }
    }
}
