internal import Foundation

/// A Swift type that can be read from a column in PostgreSQL's text format.
public protocol PGDecodable: Sendable {
    /// Decodes `text` (`nil` for SQL NULL) of a column of type `typeOID`.
    init(pgText text: String?, typeOID: UInt32) throws
}

extension PGDecodable {
    static func notNull(_ text: String?) throws -> String {
        guard let text else { throw PGError(.decoding, message: "unexpected NULL for \(Self.self)") }
        return text
    }

    static func invalid(_ text: String) -> PGError {
        PGError(.decoding, message: "cannot read \(Self.self) from \(text.prefix(40).debugDescription)")
    }
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        guard let text else {
            self = .none
            return
        }
        self = .some(try Wrapped(pgText: text, typeOID: typeOID))
    }
}

extension String: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        self = try Self.notNull(text)
    }
}

extension Int: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        let text = try Self.notNull(text)
        guard let value = Int(text) else { throw Self.invalid(text) }
        self = value
    }
}

extension Int32: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        let text = try Self.notNull(text)
        guard let value = Int32(text) else { throw Self.invalid(text) }
        self = value
    }
}

extension Int64: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        let text = try Self.notNull(text)
        guard let value = Int64(text) else { throw Self.invalid(text) }
        self = value
    }
}

extension Double: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        let text = try Self.notNull(text)
        guard let value = Double(text) else { throw Self.invalid(text) }
        self = value
    }
}

extension Bool: PGDecodable {
    public init(pgText text: String?, typeOID: UInt32) throws {
        switch try Self.notNull(text) {
        case "t", "true": self = true
        case "f", "false": self = false
        case let other: throw Self.invalid(other)
        }
    }
}

extension Array: PGDecodable where Element == UInt8 {
    /// Reads bytea in the server's default `hex` output format (`\x0a1b…`).
    public init(pgText text: String?, typeOID: UInt32) throws {
        let text = try Self.notNull(text)
        var utf8 = text.utf8.makeIterator()
        guard utf8.next() == UInt8(ascii: "\\"), utf8.next() == UInt8(ascii: "x") else {
            throw PGError(.decoding, message: "bytea is not in hex format; set bytea_output = 'hex'")
        }
        var out: [UInt8] = []
        out.reserveCapacity((text.utf8.count - 2) / 2)
        while let high = utf8.next() {
            guard let low = utf8.next(), let h = Self.nibble(high), let l = Self.nibble(low) else {
                throw Self.invalid(text)
            }
            out.append(h << 4 | l)
        }
        self = out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A `json`/`jsonb` value, kept as its text.
///
/// Why not decode straight into `Decodable`: the caller decides when (and whether) parsing is worth it;
/// ``PGJSON/decode(_:)`` does it on demand.
public struct PGJSON: Sendable, Hashable, PGEncodable, PGDecodable {
    /// The JSON text.
    public var text: String

    public init(text: String) { self.text = text }

    /// Encodes `value` with `JSONEncoder` (sorted keys, so equal values give equal text).
    public init(encoding value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public init(pgText text: String?, typeOID: UInt32) throws {
        self.text = try Self.notNull(text)
    }

    public var pgBind: PGBind { .text(text) }

    /// Decodes the JSON text into `type`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
