import AsyncHTTPClient
import Dispatch
import Foundation
import HeraldTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Herald

/// A resolver scripted per call; the calls it answered are counted.
final class ScriptedResolver: AddressResolver, Sendable {
    let calls = Atomic<Int>(0)
    let script: @Sendable (_ call: Int) async throws -> [String]
    init(_ script: @escaping @Sendable (_ call: Int) async throws -> [String]) { self.script = script }
    func resolve(_ host: String, port: Int) async throws -> [String] {
        try await script(calls.add(1, ordering: .relaxed).newValue)
    }
}

struct LookupFailed: Error {}

/// A TCP listener on 127.0.0.1 that keeps every byte it receives (to read a TLS ClientHello) and answers nothing.
final class RawListener: Sendable {
    let received = Mutex<[UInt8]>([])
    let channel: Mutex<(any Channel)?> = Mutex(nil)
    var port: Int { channel.withLock { $0?.localAddress?.port ?? 0 } }

    static func start() async throws -> RawListener {
        let listener = RawListener()
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(listener: listener)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        listener.channel.withLock { $0 = bound }
        return listener
    }

    func stop() async { try? await channel.withLock { $0 }?.close() }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let listener: RawListener
        init(listener: RawListener) { self.listener = listener }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(unwrapInboundIn(data).readableBytesView)
            listener.received.withLock { $0 += bytes }
            context.close(promise: nil)
        }
    }
}

@Suite("Sender: crash-proof URLs, SSRF pinning, fast refusals, bounded lookups")
struct SenderTests {
    func sender(guarded: Bool, resolver: any AddressResolver = SystemAddressResolver(), timeout: Duration = .seconds(5)) -> HTTPSender {
        HTTPSender(
            connectTimeout: .seconds(2), totalTimeout: timeout, responseLimit: 1024, excerptLimit: 256, maxConnectionsPerHost: 4,
            addressPolicy: AddressPolicy(allowPrivateNetworks: !guarded), resolver: resolver)
    }

    @Test("a bad stored URL is a permanent failure at once, never a crash", arguments: [
        "http://127.0.0.1:99999/x", "http://127.0.0.1:0/x", "http:///x", "http://[::1/x", "http://127.0.0.1:abc/", "http://127.0.0.1:-1/",
        "http://012.0.0.1/", "http://127.1/", "http://0x7f.0.0.1/", "http://2130706433/", "gopher://127.0.0.1/",
    ])
    func badURL(_ url: String) async throws {
        let receiver = try await TestReceiver.start()
        let http = sender(guarded: false)
        let began = ContinuousClock.now
        let outcome = await http.send(url: url, headers: [], body: [])
        #expect(outcome.result.classification == .permanent, "\(url): \(outcome.result)")
        #expect(outcome.result.summary.hasPrefix("invalid URL:"), "\(outcome.result.summary)")
        #expect(ContinuousClock.now - began < .seconds(1))
        #expect(receiver.requests.isEmpty)
        await http.shutdown()
        await receiver.stop()
    }

    @Test("a stored header with a line break is a permanent failure and nothing is sent")
    func badHeader() async throws {
        let receiver = try await TestReceiver.start()
        let http = sender(guarded: false)
        let outcome = await http.send(url: receiver.url("/h"), headers: [("X-Evil", "a\r\nX-Injected: 1")], body: [])
        #expect(outcome.result.classification == .permanent)
        #expect(outcome.result.summary.contains("invalid header"), "\(outcome.result.summary)")
        #expect(receiver.requests.isEmpty)
        await http.shutdown()
        await receiver.stop()
    }

    @Test("a redirect is not followed: the 3xx is the answer, and a permanent one")
    func redirectNotFollowed() async throws {
        let receiver = try await TestReceiver.start { request, _ in
            request.path == "/from" ? .status(302, headers: ["Location": "/to"]) : .status(200)
        }
        let http = sender(guarded: false)
        let outcome = await http.send(url: receiver.url("/from"), headers: [], body: [])
        #expect(outcome.result.status == 302)
        #expect(outcome.result.classification == .permanent)
        #expect(receiver.requests.map(\.path) == ["/from"])
        await http.shutdown()
        await receiver.stop()
    }

    @Test("a refused connection fails at once, retryable, with a plain message")
    func refusedConnection() async throws {
        // A port bound but not listening: connections are refused, and no other test can take it meanwhile.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let http = sender(guarded: false)
        let began = ContinuousClock.now
        let outcome = await http.send(url: "http://127.0.0.1:\(port)/x", headers: [], body: [])
        // At once, not after the 5 s connect timeout (3 s leaves room for a loaded machine).
        #expect(ContinuousClock.now - began < .seconds(3))
        #expect(outcome.result.classification == .retryable)
        #expect(outcome.result.summary == "connection refused by 127.0.0.1:\(port)", "\(outcome.result.summary)")
        await http.shutdown()
    }

    @Test("a failed lookup is retryable and sends nothing; the next answer (loopback) is refused")
    func failedLookupThenLoopback() async throws {
        let receiver = try await TestReceiver.start()
        let resolver = ScriptedResolver { call in
            if call == 1 { throw LookupFailed() }
            return ["127.0.0.1"]
        }
        let http = sender(guarded: true, resolver: resolver)
        let url = "http://rebind.example:\(receiver.port)/x"
        let first = await http.send(url: url, headers: [], body: [])
        #expect(first.result.classification == .retryable)
        #expect(first.result.summary.contains("cannot resolve rebind.example"), "\(first.result.summary)")
        let second = await http.send(url: url, headers: [], body: [])
        #expect(second.result.classification == .permanent)
        #expect(second.result.summary.contains("loopback"), "\(second.result.summary)")
        let emptyAnswer = sender(guarded: true, resolver: ScriptedResolver { _ in [] })
        let empty = await emptyAnswer.send(url: url, headers: [], body: [])
        #expect(empty.result.classification == .retryable)
        await emptyAnswer.shutdown()
        #expect(receiver.requests.isEmpty)
        await http.shutdown()
        await receiver.stop()
    }

    @Test("one public and one private answer: refused, nothing sent", arguments: [["93.184.216.34", "127.0.0.1"], ["127.0.0.1", "93.184.216.34"], ["2606:2800:220:1::1", "::1"], ["93.184.216.34", "not-an-address"]])
    func mixedAnswers(_ answer: [String]) async throws {
        let receiver = try await TestReceiver.start()
        let http = sender(guarded: true, resolver: ScriptedResolver { _ in answer })
        let outcome = await http.send(url: "http://mixed.example:\(receiver.port)/x", headers: [], body: [])
        #expect(outcome.result.classification != .success)
        #expect(outcome.result.status == nil)
        #expect(receiver.requests.isEmpty)
        await http.shutdown()
        await receiver.stop()
    }

    @Test("a lookup that hangs counts inside the request timeout")
    func hangingLookup() async throws {
        // A lookup that ignores cancellation, like a blocked getaddrinfo.
        let resolver = ScriptedResolver { _ in
            await withCheckedContinuation { c in DispatchQueue.global().asyncAfter(deadline: .now() + 20) { c.resume() } }
            return ["127.0.0.1"]
        }
        let http = sender(guarded: false, resolver: resolver, timeout: .milliseconds(500))
        let began = ContinuousClock.now
        let outcome = await http.send(url: "http://slow-dns.example/x", headers: [], body: [])
        // Well before the 20 s lookup ends (the parallel suites can delay the 500 ms timeout by a second or two).
        #expect(ContinuousClock.now - began < .seconds(5))
        #expect(outcome.result.classification == .retryable)
        #expect(outcome.result.summary.contains("within"), "\(outcome.result.summary)")
        await http.shutdown()
    }

    @Test("http connects to the checked address with the name in Host: no second lookup")
    func pinnedHTTP() async throws {
        let receiver = try await TestReceiver.start()
        let resolver = ScriptedResolver { _ in ["127.0.0.1"] }
        let http = sender(guarded: false, resolver: resolver)
        // `.invalid` never resolves (RFC 6761): only the checked address can have been used.
        let outcome = await http.send(url: "http://hook.invalid:\(receiver.port)/pinned", headers: [("X-Test", "1")], body: Array("{}".utf8))
        #expect(outcome.result.status == 200, "\(outcome.result)")
        #expect(receiver.requests.first?.headers["host"] == "hook.invalid:\(receiver.port)")
        #expect(resolver.calls.load(ordering: .relaxed) == 1)
        await http.shutdown()
        await receiver.stop()
    }

    @Test("https connects to the checked address and sends the name as SNI")
    func pinnedHTTPS() async throws {
        let listener = try await RawListener.start()
        let resolver = ScriptedResolver { _ in ["127.0.0.1"] }
        let http = sender(guarded: false, resolver: resolver)
        let outcome = await http.send(url: "https://secure.invalid:\(listener.port)/x", headers: [], body: [])
        #expect(outcome.result.classification == .retryable, "\(outcome.result)")  // the listener is no TLS server
        let hello = listener.received.withLock { $0 }
        #expect(hello.first == 0x16, "a TLS handshake record arrived at the checked address")
        #expect(String(decoding: hello, as: UTF8.self).contains("secure.invalid"), "SNI names the original host")
        await http.shutdown()
        await listener.stop()
    }

    @Test("the next checked address is tried only when the first cannot be connected to")
    func fallsBackToNextAddress() async throws {
        let receiver = try await TestReceiver.start()
        let http = sender(guarded: false, resolver: ScriptedResolver { _ in ["::1", "127.0.0.1"] })
        let outcome = await http.send(url: "http://dual.invalid:\(receiver.port)/x", headers: [], body: [])
        #expect(outcome.result.status == 200, "\(outcome.result)")
        #expect(receiver.requests.count == 1)
        await http.shutdown()
        await receiver.stop()
    }

    @Test("pinned clients beyond the capacity are shut down when idle, and sends keep working")
    func pinnedClientEviction() async throws {
        let receiver = try await TestReceiver.start()
        let http = HTTPSender(
            connectTimeout: .seconds(2), totalTimeout: .seconds(5), responseLimit: 1024, excerptLimit: 256, maxConnectionsPerHost: 4,
            addressPolicy: AddressPolicy(allowPrivateNetworks: true), resolver: ScriptedResolver { _ in ["127.0.0.1"] }, pinnedClients: 1)
        for host in ["a.invalid", "b.invalid", "a.invalid", "c.invalid"] {
            let outcome = await http.send(url: "http://\(host):\(receiver.port)/\(host)", headers: [], body: [])
            #expect(outcome.result.status == 200, "\(outcome.result)")
        }
        #expect(receiver.requests.map(\.path) == ["/a.invalid", "/b.invalid", "/a.invalid", "/c.invalid"])
        await http.shutdown()
        await receiver.stop()
    }

    @Test("a send whose start deadline passes while it waits for a connection is never written whole")
    func startDeadlineAfterConnecting() async throws {
        // One connection per host: the second send waits in the client's pool behind a held request,
        // past its deadline, as a worker frozen between its check and the send would.
        let receiver = try await TestReceiver.start { request, _ in request.path == "/held" ? .hold : .status(200) }
        let http = HTTPSender(
            connectTimeout: .seconds(2), totalTimeout: .seconds(10), responseLimit: 1024, excerptLimit: 256, maxConnectionsPerHost: 1,
            addressPolicy: AddressPolicy(allowPrivateNetworks: true), resolver: ScriptedResolver { _ in ["127.0.0.1"] })
        async let held = http.send(url: "http://one.invalid:\(receiver.port)/held", headers: [], body: Array("{}".utf8))
        try await Wait.until("the first request to be held", timeout: .seconds(10)) { receiver.heldCount == 1 }
        let startBy = ContinuousClock.now + .milliseconds(300)
        async let late = http.send(
            url: "http://one.invalid:\(receiver.port)/late", headers: [], body: Array("{\"late\":true}".utf8), startBy: startBy)
        try await Wait.until("the late send's deadline to pass", timeout: .seconds(10)) { ContinuousClock.now > startBy + .milliseconds(100) }
        receiver.releaseHeld()
        #expect(await held.result.status == 200)
        let outcome = await late
        #expect(outcome == nil, "a send past its deadline reports nothing sent, not \(String(describing: outcome?.result))")
        #expect(receiver.requests.map(\.path) == ["/held"], "the receiver got no complete late request")
        // The same client still sends: the refused request's connection did not poison the pool.
        let after = await http.send(url: "http://one.invalid:\(receiver.port)/after", headers: [], body: [])
        #expect(after.result.status == 200, "\(after.result)")
        await http.shutdown()
        await receiver.stop()
    }

    @Test("the start deadline is checked on the connection's event loop, in the call that writes the body", arguments: [2, StartGatedBytes.largest])
    func startDeadlineCheckedOnTheLoop(size: Int) async throws {
        // The chaos run caught a worker frozen in the hop between a check in a task and the write on the
        // loop. AsyncHTTPClient makes a `Collection` body of up to 4 MiB on the loop, right before writing
        // it: this pins that it still does, at both ends of the range HTTPSender uses it for.
        let receiver = try await TestReceiver.start { _, _ in .status(200) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        let gate = StartGate(startBy: .now + .seconds(30))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(receiver.port)/loop")
        request.method = .POST
        request.body = .bytes(StartGatedBytes(bytes: body, gate: gate), length: .known(Int64(size)))
        let response = try await client.execute(request, timeout: .seconds(20))
        #expect(response.status.code == 200)
        #expect(gate.handedOver, "the body was checked and handed over")
        #expect(!gate.checkedOffLoop, "the check ran on the event loop that writes the body, not a hop away")
        #expect(receiver.requests.first?.body.count == size, "the receiver got the whole body")

        // Past the deadline: no bytes handed over, the request fails, the receiver gets no complete request.
        let late = StartGate(startBy: .now - .seconds(1))
        request.body = .bytes(StartGatedBytes(bytes: body, gate: late), length: .known(Int64(size)))
        await #expect(throws: (any Error).self) { _ = try await client.execute(request, timeout: .seconds(20)) }
        #expect(late.refused && late.withheld)
        #expect(!late.checkedOffLoop)
        #expect(receiver.requests.count == 1, "no complete late request")
        try await client.shutdown()
        await receiver.stop()
    }
}
