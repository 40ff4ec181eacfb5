internal import Herald

/// Durations in settings: read with ``DurationText`` (a unit is required), shown in the largest whole
/// unit (`15s`, `10h`, `5d`, `250ms`) so `--print-config` prints what an operator would type.
enum DurationDisplay {
    static func parse(_ text: String) throws -> Duration {
        do {
            return try DurationText.parse(text, name: "duration")
        } catch {
            throw SettingRefusal("expected a duration with a unit (ms, s, m, h or d), e.g. 250ms, 5s, 10m, 1h30m")
        }
    }

    static func text(_ duration: Duration) -> String {
        let ms = Int64((duration.seconds * 1000).rounded())
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % size == 0 {
            return "\(ms / size)\(unit)"
        }
        return "\(ms)ms"
    }
}
