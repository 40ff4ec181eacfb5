import Foundation
import Herald
import Synchronization
import Testing

@Suite("DatabaseContact: /readyz from the worker's own recent contact")
struct DatabaseContactTests {
    @Test("not ready before any contact, ready within the window, stale after it")
    func window() {
        final class Clock: Sendable { let now = Mutex(Date(timeIntervalSince1970: 1_000)) }
        let clock = Clock()
        let contact = DatabaseContact(window: .seconds(15)) { clock.now.withLock { $0 } }
        #expect(!contact.isRecent)
        contact.record()
        #expect(contact.isRecent)
        clock.now.withLock { $0 += 15 }
        #expect(contact.isRecent)
        clock.now.withLock { $0 += 0.5 }
        #expect(!contact.isRecent)
        #expect(contact.secondsSinceLast == 15.5)
        contact.record()
        #expect(contact.isRecent)
    }
}
