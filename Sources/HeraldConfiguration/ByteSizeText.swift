internal import Foundation

/// Sizes as operators write them: `65536`, `512KiB`, `64MiB`, `2GiB` (binary units; `MB` is read as MiB).
enum ByteSizeText {
    static let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]

    /// The size in bytes, or nil when `text` is no size.
    static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let aliases = ["GB": "GiB", "MB": "MiB", "KB": "KiB", "G": "GiB", "M": "MiB", "K": "KiB", "B": ""]
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        var unit = String(trimmed.dropFirst(digits.count)).trimmingCharacters(in: .whitespaces)
        unit = aliases[unit.uppercased()] ?? unit
        if unit.isEmpty { return number }
        guard let factor = units.first(where: { $0.0.lowercased() == unit.lowercased() })?.1 else { return nil }
        let (value, overflow) = number.multipliedReportingOverflow(by: factor)
        return overflow ? nil : value
    }

    /// `67108864` as `64MiB`; bytes as a plain number when no unit divides them.
    static func text(_ bytes: Int) -> String {
        for (name, factor) in units where bytes >= factor && bytes % factor == 0 { return "\(bytes / factor)\(name)" }
        return "\(bytes)"
    }
}
