internal import HTTPTypes
internal import Hummingbird
internal import NIOCore

/// The console's answers: a page with the security headers every page carries, or a redirect.
enum ConsoleResponse {
    /// A page. `no-store`: pages show deliveries and endpoints, which must not linger in a shared cache or
    /// the browser's history after signing out; `DENY` framing: no other site can overlay the buttons.
    static func page(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = ConsoleStyle.contentSecurityPolicy
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html.rendered)))
    }

    /// 303 See Other to `location` (after a form: the browser GETs it, so a reload does not post again).
    static func redirect(_ location: String, cookie: Cookie? = nil) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        var response = Response(status: .seeOther, headers: headers)
        if let cookie { response.setCookie(cookie) }
        return response
    }
}
