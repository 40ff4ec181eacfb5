import Foundation

/// Aligned columns for terminal output.
enum TextTable {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `text` cut to `width` characters with an ellipsis, so one long URL does not push a table off screen.
    static func truncate(_ text: String, to width: Int = 60) -> String {
        text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }

    /// "1 delivery", "2 deliveries", "0 deliveries".
    static func count(_ n: Int, _ singular: String, _ plural: String) -> String {
        "\(n) \(n == 1 ? singular : plural)"
    }

    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}
