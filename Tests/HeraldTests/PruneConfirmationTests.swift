import Herald
import Testing

@Suite("Prune confirmation")
struct PruneConfirmationTests {
    @Test("asks only when more than half of all deliveries would go", arguments: [
        (0, 0, false), (0, 10, false), (5, 10, false), (6, 10, true), (10, 10, true), (1, 1, true),
    ])
    func share(_ doomed: Int, _ total: Int, _ asks: Bool) {
        let preview = DeliveryAdminStore.PrunePreview(
            deliveries: doomed, totalDeliveries: total, oldestFinishedAt: nil, newestFinishedAt: nil, breakerEvents: 0)
        #expect(preview.needsConfirmation == asks)
    }
}
