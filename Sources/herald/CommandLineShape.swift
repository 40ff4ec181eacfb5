import Foundation
import HeraldConfiguration

/// Fixes the shape of a command line before swift-argument-parser reads it.
///
/// Why: connection options belong to every subcommand (`@OptionGroup`), so `herald --schema x status`
/// was an error though people naturally write global options first; and a mistyped subcommand got
/// "unexpected argument" with no hint. Options before the subcommand are moved behind it; an unknown
/// subcommand gets the nearest name.
enum CommandLineShape {
    /// The options every database command shares, each taking one value.
    static let globalOptions: Set<String> = ["--database-url", "--schema", "--log-level", "--log-format"]

    /// `arguments` with leading global options (and their values) moved to the end.
    static func movingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            let name = first.split(separator: "=", maxSplits: 1).first.map(String.init) ?? first
            guard globalOptions.contains(name) else { break }
            leading.append(first)
            rest = rest.dropFirst()
            if !first.contains("="), let value = rest.first {
                leading.append(value)
                rest = rest.dropFirst()
            }
        }
        return leading.isEmpty || rest.isEmpty ? arguments : Array(rest) + leading
    }

    /// A "did you mean" line when `word` is not one of `names`, else nil.
    static func suggestion(for word: String, among names: [String]) -> String? {
        guard !names.contains(word) else { return nil }
        let nearest = names.min { distance(word, $0) < distance(word, $1) }
        if let nearest, distance(word, nearest) <= max(2, nearest.count / 3) {
            return "unknown command \(word.debugDescription): did you mean `herald \(nearest)`? (`herald --help` lists them)"
        }
        return "unknown command \(word.debugDescription): `herald --help` lists them"
    }

    /// Levenshtein distance (HeraldConfiguration's, shared with the settings' "did you mean").
    static func distance(_ a: String, _ b: String) -> Int { EditDistance.between(a, b) }
}
