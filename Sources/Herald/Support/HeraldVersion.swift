/// Herald's version, sent in `User-Agent` and printed by `herald --version`.
public enum HeraldVersion {
    public static let current = "0.1.0"
}
