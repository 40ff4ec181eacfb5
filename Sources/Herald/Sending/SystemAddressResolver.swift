internal import Foundation

/// Resolves with `getaddrinfo`, as every other program on the machine does, on a background thread (it blocks).
///
/// `getaddrinfo` cannot be interrupted: a lookup that hangs keeps its thread until the resolver gives up,
/// but the sender stops waiting for it at the request timeout (see ``TimeLimit``).
struct SystemAddressResolver: AddressResolver {
    func resolve(_ host: String, port: Int) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                let rc = getaddrinfo(host, String(port), &hints, &result)
                guard rc == 0, let first = result else {
                    continuation.resume(throwing: HeraldError(.invalidInput, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))"))
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [String] = []
                var node: UnsafeMutablePointer<addrinfo>? = first
                while let n = node {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(n.pointee.ai_addr, n.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        if !addresses.contains(text) { addresses.append(text) }
                    }
                    node = n.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}
