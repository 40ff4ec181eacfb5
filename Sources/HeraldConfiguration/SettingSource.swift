/// Where a worker setting's value came from, in precedence order: a flag beats the environment, which
/// beats the config file, which beats the default.
///
/// Why it is kept: `herald worker --print-config` shows it beside every value, and every refusal names
/// it, so an operator who set a value in three places can see which one counts.
public enum SettingSource: Sendable, Hashable, CustomStringConvertible {
    /// A command-line flag, e.g. `--concurrency`.
    case flag(String)
    /// An environment variable, e.g. `HERALD_CONCURRENCY`.
    case environment(String)
    /// The config file at this path (as given).
    case file(String)
    /// WorkerConfiguration's default.
    case `default`

    /// `flag --concurrency`, `env HERALD_CONCURRENCY`, `file herald.toml`, `default`.
    public var description: String {
        switch self {
        case .flag(let name): "flag \(name)"
        case .environment(let name): "env \(name)"
        case .file(let path): "file \(path)"
        case .default: "default"
        }
    }

    /// The source as it reads after "from": `--concurrency`, `HERALD_CONCURRENCY`, `herald.toml`.
    var origin: String {
        switch self {
        case .flag(let name), .environment(let name), .file(let name): name
        case .default: "the default"
        }
    }
}
