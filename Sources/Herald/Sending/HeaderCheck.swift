/// Checks outgoing header fields before a send: a bad one is a permanent failure with a reason.
///
/// Why in the sender too: headers come from the database, where a producer (or an older Herald, or a
/// hand-written `UPDATE`) may have put anything. A CR or LF in a value would split the request (header
/// injection); the HTTP client rejects it with an error that used to be retried as a connection failure
/// on every attempt. Rules from RFC 9110: a name is a non-empty token; a value is visible ASCII, spaces,
/// tabs and obs-text (bytes 0x80-0xFF), without CR, LF, NUL or other controls.
public enum HeaderCheck {
    /// Longest name and value accepted, in bytes.
    public static let maximumNameLength = 256
    public static let maximumValueLength = 8192

    /// Why the header `name: value` cannot be sent, or nil when it can.
    public static func problem(name: String, value: String) -> String? {
        let shownName = String(name.prefix(64)).debugDescription
        guard !name.isEmpty, name.utf8.count <= maximumNameLength else { return "header name \(shownName) is empty or too long" }
        guard name.utf8.allSatisfy(isTokenByte) else { return "header name \(shownName) has characters other than letters, digits and !#$%&'*+-.^_`|~" }
        guard value.utf8.count <= maximumValueLength else { return "the value of header \(shownName) is longer than \(maximumValueLength) bytes" }
        guard value.utf8.allSatisfy({ $0 == 0x09 || (0x20...0x7E).contains($0) || $0 >= 0x80 }) else {
            return "the value of header \(shownName) contains a line break or another control character"
        }
        return nil
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }
}
