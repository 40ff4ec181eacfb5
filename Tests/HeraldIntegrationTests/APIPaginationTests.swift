import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// Cursor pagination while rows are inserted between pages: no row skipped, none repeated.
@Suite("API pagination")
struct APIPaginationTests {
    /// Reads every page of `path` with `limit`, running `between` after each page; returns the ids in order.
    func walk(_ f: APIFixture, _ path: String, token: String, limit: Int, between: (Int) async throws -> Void) async throws -> [String] {
        var ids: [String] = []
        var iterator: String?
        var pages = 0
        while true {
            let separator = path.contains("?") ? "&" : "?"
            let query = "\(separator)limit=\(limit)" + (iterator.map { "&iterator=\($0)" } ?? "")
            let page = try await f.api.send("GET", path + query, token: token)
            #expect(page.status == 200, "\(page)")
            let data = page.json["data"] as? [[String: Any]] ?? []
            ids += data.map { "\($0["id"]!)" }
            pages += 1
            if page.json["done"] as? Bool == true {
                #expect(page.json["iterator"] == nil || page.json["iterator"] is NSNull, "\(page)")
                break
            }
            #expect(data.count == limit, "a page that is not the last is full")
            iterator = try #require(page.json["iterator"] as? String, "\(page)")
            try await between(pages)
            try #require(pages < 100, "pagination does not end")
        }
        return ids
    }

    @Test("messages and deliveries, newest first: rows published between pages never shift a page")
    func newestFirst() async throws {
        let f = try await APIFixture.start()
        _ = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": "https://acme.example/hooks"])
        func publish(_ n: Int) async throws {
            let answer = try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "a.b", "payload": ["n": n]])
            #expect(answer.status == 202, "\(answer)")
        }
        for n in 0..<10 { try await publish(n) }
        let before = try await f.connection.query("SELECT id FROM \(unescaped: f.schema).messages ORDER BY id DESC").rows.map { "\(try $0.decode("id", as: Int64.self))" }
        var added = 0
        let messages = try await walk(f, "/v1/applications/acme/messages", token: f.acme, limit: 3) { _ in
            try await publish(100 + added)
            added += 1
        }
        #expect(added >= 3)
        #expect(Set(messages).count == messages.count, "no message repeated: \(messages)")
        #expect(messages == before, "exactly the messages that existed, newest first: \(messages) vs \(before)")

        let existing = try await f.connection.query(
            "SELECT id FROM \(unescaped: f.schema).deliveries ORDER BY id DESC").rows.map { "\(try $0.decode("id", as: Int64.self))" }
        let deliveries = try await walk(f, "/v1/deliveries?application=acme", token: f.admin, limit: 4) { _ in try await publish(200) }
        #expect(Set(deliveries).count == deliveries.count, "no delivery repeated")
        #expect(deliveries == existing, "\(deliveries) vs \(existing)")
    }

    @Test("applications and endpoints, by id: rows inserted between pages behind the cursor are not seen, ahead of it they are, once")
    func byID() async throws {
        let f = try await APIFixture.start()
        for i in 0..<7 {
            let r = try await f.api.send("POST", "/v1/applications", token: f.admin, json: ["id": "m\(i)"])
            #expect(r.status == 201, "\(r)")
        }
        var inserted: [String] = []
        let apps = try await walk(f, "/v1/applications", token: f.admin, limit: 2) { page in
            // One before every cursor ("a…" sorts first) and one after all of them ("z…").
            for id in ["a\(page)", "z\(page)"] {
                let r = try await f.api.send("POST", "/v1/applications", token: f.admin, json: ["id": id])
                #expect(r.status == 201, "\(r)")
                inserted.append(id)
            }
        }
        #expect(Set(apps).count == apps.count, "no application repeated: \(apps)")
        #expect(apps == apps.sorted(), "by id: \(apps)")
        for id in ["acme", "default", "globex"] + (0..<7).map({ "m\($0)" }) { #expect(apps.contains(id), "\(id) skipped: \(apps)") }
        for id in inserted where id.hasPrefix("z") { #expect(apps.contains(id), "\(id) inserted ahead of the cursor: \(apps)") }

        for i in 0..<5 {
            _ = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": "https://e\(i).example/"])
        }
        var extra = 0
        let endpoints = try await walk(f, "/v1/applications/acme/endpoints", token: f.acme, limit: 2) { _ in
            _ = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": "https://x\(extra).example/"])
            extra += 1
        }
        let all = try await f.connection.query(
            "SELECT id FROM \(unescaped: f.schema).endpoints WHERE application_id = 'acme' ORDER BY id").rows.map { "\(try $0.decode("id", as: Int64.self))" }
        #expect(endpoints == all, "every endpoint once, by id, including those added ahead of the cursor: \(endpoints) vs \(all)")
    }
}
