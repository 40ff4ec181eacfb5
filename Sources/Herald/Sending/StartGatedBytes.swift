/// A request body of up to ``largest`` bytes whose start deadline is checked on the connection's event
/// loop, in the very call that writes it: the narrowest window a client-side check can have.
///
/// AsyncHTTPClient makes a body given as a `Collection` of at most 4 MiB only when the request head is
/// on a connection, on that connection's event loop, and writes it in the same synchronous call
/// (`Transaction.resumeRequestBodyStream`: `makeCompleteBody`, then `writeRequestBodyPart` on the loop,
/// then the flush's `write(2)`). It copies the bytes through ``withContiguousStorageIfAvailable(_:)``,
/// where the check sits. Past the deadline it hands over no bytes: the client writes a body shorter than
/// its `Content-Length`, fails the request with `bodyLengthMismatch` and closes the connection, so the
/// receiver sees a head without its body, never a complete request.
///
/// The earlier form, an `AsyncSequence` (``StartGatedBody``, kept for larger bodies), is iterated in a
/// task of its own and its bytes reach the loop one hop later: a worker frozen in that hop (scheduling
/// delay on a loaded machine, milliseconds) woke after its lease had ended and wrote anyway while another
/// worker sent the same delivery (the chaos run in CI, December 2026). Here a freeze can land only in
/// the copy and the first write themselves (a body larger than the socket's send buffer finishes on later
/// writability events, as any send that has begun does). `SenderTests` pins that the check runs on the event loop.
struct StartGatedBytes: RandomAccessCollection, Sendable {
    /// AsyncHTTPClient's `bagOfBytesToByteBufferConversionChunkSize`: larger collections are cut into
    /// chunks and written from a task, a hop away (and a refusal could not shorten a chunk safely).
    static let largest = 4 * 1024 * 1024

    let bytes: [UInt8]
    let gate: StartGate

    /// Only for bodies the client makes in one piece: refused, this collection hands over no bytes while
    /// its `count` says more, which only `ByteBufferAllocator.buffer(bytes:)` on that path tolerates (a
    /// `Slice` of it, as the client's chunking of larger bodies makes, would trap).
    init(bytes: [UInt8], gate: StartGate) {
        precondition(bytes.count <= Self.largest, "StartGatedBytes is for bodies of at most \(Self.largest) bytes")
        self.bytes = bytes
        self.gate = gate
    }

    var startIndex: Int { bytes.startIndex }
    var endIndex: Int { bytes.endIndex }
    subscript(position: Int) -> UInt8 { bytes[position] }

    /// The bytes if the deadline has not passed, else none at all (see the type's documentation).
    func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        guard gate.admit() else { return try [UInt8]().withUnsafeBufferPointer(body) }
        return try bytes.withUnsafeBufferPointer(body)
    }
}
