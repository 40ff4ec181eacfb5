/// Booleans as people write them in environment variables: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
///
/// Why strict both ways: `HERALD_ALLOW_PRIVATE_NETWORKS=true` was once ignored because only `1` counted,
/// so the operator believed a setting was on that was off. Every usual spelling is accepted, in any case,
/// and anything else is refused with the accepted forms rather than read as "false".
public enum BooleanText {
    /// Parses `text`; throws ``HeraldError/Code/invalidInput`` naming `name`.
    public static func parse(_ text: String, name: String) throws -> Bool {
        switch text.trimmingCharacters(in: [" ", "\t"]).lowercased() {
        case "1", "true", "yes", "on", "y", "t": return true
        case "0", "false", "no", "off", "n", "f", "": return false
        default:
            throw HeraldError.invalid(
                "invalid \(name)=\(String(text.prefix(40)).debugDescription): use 1, true, yes or on to enable; 0, false, no or off to disable")
        }
    }
}
