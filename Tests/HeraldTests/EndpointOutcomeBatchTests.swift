import Foundation
import Testing

@testable import Herald

/// The endpoint-lifecycle fold: what each answer says, and that healthy batches write nothing.
@Suite("Endpoint outcome batch")
struct EndpointOutcomeBatchTests {
    func send(_ endpoint: Int64, _ result: AttemptResult, id: Int64 = 1, exhausted: Bool = false, wasFailing: Bool = false) -> EndpointOutcomeBatch.Send {
        EndpointOutcomeBatch.Send(endpointID: endpoint, deliveryID: id, result: result, exhausted: exhausted, endpointWasFailing: wasFailing)
    }

    @Test("each answer's reading", arguments: [
        (AttemptResult.response(status: 200, retryAfter: nil), EndpointOutcomeBatch.Reading.success),
        (.response(status: 204, retryAfter: nil), .success),
        (.response(status: 410, retryAfter: nil), .gone),
        (.response(status: 500, retryAfter: nil), .failure),
        (.response(status: 400, retryAfter: nil), .failure),
        (.response(status: 404, retryAfter: nil), .failure),
        (.response(status: 429, retryAfter: nil), .nothing),
        (.response(status: 503, retryAfter: "5"), .nothing),
        (.response(status: 503, retryAfter: nil), .failure),
        (.timeout("t"), .failure),
        (.connectionError("c"), .failure),
        (.refused("ssrf"), .nothing),
    ])
    func readings(result: AttemptResult, expected: EndpointOutcomeBatch.Reading) {
        #expect(EndpointOutcomeBatch.reading(result) == expected)
    }

    @Test("a healthy batch writes nothing; a success after failing writes a clear")
    func healthyWritesNothing() {
        let ok = AttemptResult.response(status: 200, retryAfter: nil)
        #expect(EndpointOutcomeBatch.records([send(1, ok), send(1, ok, id: 2), send(2, ok)]).isEmpty)
        let records = EndpointOutcomeBatch.records([send(1, ok, wasFailing: true), send(2, ok)])
        #expect(records == [EndpointOutcome(endpointID: 1, succeeded: true)])
    }

    @Test("failures, 410 and exhausted deliveries are recorded per endpoint, in endpoint order")
    func failuresRecorded() {
        let records = EndpointOutcomeBatch.records([
            send(7, .response(status: 500, retryAfter: nil), id: 10, exhausted: true),
            send(3, .response(status: 410, retryAfter: nil), id: 11),
            send(7, .response(status: 200, retryAfter: nil), id: 12),
            send(5, .response(status: 429, retryAfter: nil), id: 13),
        ])
        #expect(records == [
            EndpointOutcome(endpointID: 3, gone: true),
            EndpointOutcome(endpointID: 7, succeeded: true, failed: true, exhausted: [10]),
        ])
    }

    @Test("the record's JSON has every declared column")
    func json() throws {
        let record = EndpointOutcome(endpointID: 4, succeeded: false, failed: true, gone: false, exhausted: [1, 2])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(record.json.utf8)) as? [String: Any])
        let declared = Set(EndpointOutcome.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0] }.map(String.init))
        #expect(Set(object.keys) == declared)
        #expect(object["exhausted"] as? [Int] == [1, 2])
    }
}
