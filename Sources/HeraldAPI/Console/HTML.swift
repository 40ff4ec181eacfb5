/// A piece of HTML whose interpolated text is escaped unless it is HTML itself.
///
/// Why: the console shows what publishers and endpoints sent (URLs, event types, errors, response
/// excerpts), all of it attacker-controlled. As `PGQuery` binds every interpolated value, `HTML` escapes
/// every interpolated `String` and number; markup is built as `HTML` on purpose, so no value reaches a
/// page raw by accident. Attribute values must be written in double quotes (the escaping covers both
/// quote characters anyway).
struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The markup, ready to send.
    private(set) var rendered: String

    init(stringLiteral literal: String) { rendered = literal }

    init(stringInterpolation: Interpolation) { rendered = stringInterpolation.rendered }

    /// Markup trusted as is: only for constants of the console's own (CSS, fixed fragments).
    init(trusted markup: String) { rendered = markup }

    var description: String { rendered }

    /// `parts` one after another.
    init(joining parts: [HTML]) { rendered = parts.map(\.rendered).joined() }

    struct Interpolation: StringInterpolationProtocol {
        var rendered = ""

        init(literalCapacity: Int, interpolationCount: Int) { rendered.reserveCapacity(literalCapacity + 16 * interpolationCount) }

        mutating func appendLiteral(_ literal: String) { rendered += literal }

        /// Text: escaped.
        mutating func appendInterpolation(_ text: String) { rendered += HTML.escape(text) }

        /// A number: needs no escaping, but goes through the same path so nothing is special.
        mutating func appendInterpolation<N: BinaryInteger>(_ number: N) { rendered += HTML.escape(String(number)) }

        /// Markup built by the console: as is.
        mutating func appendInterpolation(_ html: HTML) { rendered += html.rendered }

        /// Several pieces of markup: as is, one after another.
        mutating func appendInterpolation(_ parts: [HTML]) { for part in parts { rendered += part.rendered } }
    }

    /// `text` with the five characters that matter in HTML text and quoted attributes replaced by entities.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
