import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server on SwiftNIO for `ktrace exporter`: `GET /metrics` answers with the text the
/// caller last published; the scrape path only copies a string under a lock, so it touches no kernel
/// handle and needs no privilege. One event-loop thread; slow or vanished clients cost a socket, not a
/// thread (idle connections close after 30 s).
public final class MetricsServer: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Channel
    private let page = Page()
    /// The address actually bound (port 0 picks one).
    public let address: String

    public struct BindError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(host: String, port: Int) throws(BindError) {
        let page = self.page
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try ch.pipeline.syncOperations.addHandler(Handler(page: page))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw BindError(description: "cannot listen on \(host):\(port): \(error)")
        }
        address = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? "\(host):\(port)"
    }

    /// Replace what the next scrapes get.
    public func publish(_ text: String) { page.set(text) }

    /// Scrapes answered so far.
    public var scrapes: UInt64 { page.scrapes }

    /// Stop listening, close every connection, end the event loop.
    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// The text scrapes get, swapped whole under a lock.
final class Page: @unchecked Sendable {  // state behind `lock`
    private let lock = NIOLock()
    private var text = ""
    private var count: UInt64 = 0

    func set(_ t: String) { lock.withLock { text = t } }
    var scrapes: UInt64 { lock.withLock { count } }
    func scrape() -> String {
        lock.withLock {
            count &+= 1
            return text
        }
    }
}

private final class Handler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let page: Page
    private var head: HTTPRequestHead?

    init(page: Page) { self.page = page }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break  // a GET has none; anything sent is ignored
        case .end:
            guard let h = head else { return }
            head = nil
            respond(context, h)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        let (status, type, text): (HTTPResponseStatus, String, String)
        switch (h.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            (status, type, text) = (.ok, "text/plain; version=0.0.4; charset=utf-8", page.scrape())
        case (.GET, "/"):
            (status, type, text) = (.ok, "text/html; charset=utf-8",
                                    "<html><head><title>ktrace exporter</title></head><body><a href=\"/metrics\">Metrics</a></body></html>\n")
        case (.GET, _), (.HEAD, _):
            (status, type, text) = (.notFound, "text/plain; charset=utf-8", "not found: try /metrics\n")
        default:
            (status, type, text) = (.methodNotAllowed, "text/plain; charset=utf-8", "only GET\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        let keepAlive = h.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))), promise: nil)
        if h.method != .HEAD {
            var buf = context.channel.allocator.buffer(capacity: text.utf8.count)
            buf.writeString(text)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        // A client gone mid-body fails the write: the connection is closed, nothing else happens.
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [context] result in
            if !keepAlive || (try? result.get()) == nil { context.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
