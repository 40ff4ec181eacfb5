import Herald
import Testing

@Suite("Boolean text")
struct BooleanTextTests {
    @Test("the usual spellings, any case", arguments: [
        ("1", true), ("true", true), ("TRUE", true), ("yes", true), ("Yes", true), ("on", true),
        ("0", false), ("false", false), ("no", false), ("OFF", false), ("", false),
    ])
    func parses(_ text: String, _ expected: Bool) throws {
        #expect(try BooleanText.parse(text, name: "HERALD_ALLOW_PRIVATE_NETWORKS") == expected)
    }

    @Test("anything else is refused, not read as false", arguments: ["2", "enabled", "tru", "yes please"])
    func refuses(_ text: String) {
        #expect(throws: HeraldError.self) { try BooleanText.parse(text, name: "HERALD_ALLOW_PRIVATE_NETWORKS") }
    }
}
