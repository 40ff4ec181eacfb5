import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `herald-receiver`: a webhook receiver for demos, benchmarks and chaos runs on 127.0.0.1.
///
/// Answers 200 by default; `--fail-rate`, `--slow-rate` and `--hang-rate` make a share of requests fail
/// (500), answer late, or never answer; `--reset-rate` closes the connection without answering. With
/// `--log`, writes one JSON line per request (arrival and end, idempotency key) so a run can be checked
/// against the attempt log.
@main
struct ReceiverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-receiver",
        abstract: "A test webhook receiver (200 by default; scripted failures for demos and chaos runs).",
        discussion: """
            Examples:
              herald-receiver --port 8099
              herald-receiver --port 8099 --fail-rate 0.1 --slow-rate 0.1 --slow-delay 800ms
            """
    )

    @Option(help: "Port on 127.0.0.1.") var port: Int = 8099
    @Option(help: "Address to bind.") var host: String = "127.0.0.1"
    @Option(help: "Share of requests answered 500.") var failRate: Double = 0
    @Option(help: "Share of requests answered after --slow-delay.") var slowRate: Double = 0
    @Option(help: "Delay for slow requests, e.g. 800ms.") var slowDelay: String = "800ms"
    @Option(help: "Delay for every request, e.g. 200ms.") var delay: String = "0ms"
    @Option(help: "Share of requests never answered.") var hangRate: Double = 0
    @Option(help: "Share of requests whose connection is reset without an answer.") var resetRate: Double = 0
    @Option(help: "Paths starting with this answer 503 (an endpoint that is down).") var downPrefix: String?
    @Option(help: "Write one JSON line per request event to this file.") var log: String?
    @Option(help: "Event-loop threads.") var threads: Int = 1

    func run() throws {
        let plan = ReplyPlan(
            failRate: failRate, slowRate: slowRate, slowDelay: try Self.duration(slowDelay), delay: try Self.duration(delay),
            hangRate: hangRate, resetRate: resetRate, downPrefix: downPrefix)
        let journal = try log.map { try Journal(path: $0) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(plan: plan, journal: journal))
                }
            }
            .bind(host: host, port: port).wait()
        FileHandle.standardError.write(Data("herald-receiver listening on \(host):\(port)\n".utf8))
        try channel.closeFuture.wait()
    }

    static func duration(_ text: String) throws -> TimeAmount {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("ms"), let v = Double(t.dropLast(2)) { return .nanoseconds(Int64(v * 1e6)) }
        if t.hasSuffix("s"), let v = Double(t.dropLast(1)) { return .nanoseconds(Int64(v * 1e9)) }
        throw ValidationError("invalid duration \(text.debugDescription): use e.g. 250ms or 2s")
    }
}
