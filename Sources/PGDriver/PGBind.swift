/// One parameter value as it goes on the wire.
///
/// Text-format values are sent with type OID 0 so the server infers the type from the statement, the
/// way an untyped literal would; bytea is sent in binary format (OID 17) so body bytes arrive exactly as
/// given, with no escaping step that could alter them.
public struct PGBind: Sendable, Hashable {
    /// The bytes to send, or `nil` for SQL NULL.
    public var bytes: [UInt8]?
    /// 0 for text format, 1 for binary.
    public var format: Int32
    /// The parameter's type OID, 0 to let the server infer it.
    public var typeOID: UInt32

    /// SQL NULL.
    public static let null = PGBind(bytes: nil, format: 0, typeOID: 0)

    /// A text-format value.
    public static func text(_ string: String) -> PGBind {
        PGBind(bytes: Array(string.utf8), format: 0, typeOID: 0)
    }

    /// A binary bytea value.
    public static func bytea(_ bytes: [UInt8]) -> PGBind {
        PGBind(bytes: bytes, format: 1, typeOID: 17)
    }
}

/// A Swift value that can be bound as a statement parameter.
public protocol PGEncodable: Sendable {
    /// The value as it goes on the wire.
    var pgBind: PGBind { get }
}

extension String: PGEncodable {
    public var pgBind: PGBind { .text(self) }
}

extension Int: PGEncodable {
    public var pgBind: PGBind { .text(String(self)) }
}

extension Int32: PGEncodable {
    public var pgBind: PGBind { .text(String(self)) }
}

extension Int64: PGEncodable {
    public var pgBind: PGBind { .text(String(self)) }
}

extension Double: PGEncodable {
    public var pgBind: PGBind { .text(String(self)) }
}

extension Bool: PGEncodable {
    public var pgBind: PGBind { .text(self ? "true" : "false") }
}

extension Array: PGEncodable where Element == UInt8 {
    public var pgBind: PGBind { .bytea(self) }
}

extension PGBind: PGEncodable {
    public var pgBind: PGBind { self }
}
