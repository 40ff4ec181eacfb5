import Herald
import Testing

@Suite("SchemaName")
struct SchemaNameTests {
    @Test("plain identifiers are accepted", arguments: ["herald", "_x", "webhooks_2", String(repeating: "a", count: 54)])
    func accepted(_ name: String) throws {
        #expect(try SchemaName(name).rawValue == name)
    }

    @Test(
        "anything that is not a plain identifier is refused",
        arguments: [
            "", "x; drop table y", "Herald", "1abc", "a-b", "a b", "\"x\"", "pg_catalog", "sch\u{0}ema", "ünï",
            String(repeating: "a", count: 55), String(repeating: "a", count: 63), String(repeating: "a", count: 64),
        ])
    func refused(_ name: String) {
        let error = #expect(throws: HeraldError.self) { try SchemaName(name) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("invalid schema name") == true)
    }

    @Test("quoted and qualified forms")
    func forms() throws {
        let s = try SchemaName("user")
        #expect(s.quoted == "\"user\"")
        #expect(s.qualified("deliveries") == "\"user\".deliveries")
    }
}
