import Herald
import Testing

@Suite("SSRF guard: address policy")
struct AddressPolicyTests {
    let guarded = AddressPolicy(allowPrivateNetworks: false)

    @Test("non-global addresses are refused, with the reason", arguments: [
        ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
        ("192.168.1.1", "private"), ("169.254.169.254", "link-local"), ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "this network"), ("224.0.0.1", "multicast"), ("255.255.255.255", "reserved"), ("192.0.2.5", "documentation"),
        ("::1", "loopback"), ("::", "unspecified"), ("fe80::1", "link-local"), ("fd00::1", "unique-local"), ("fc12:3456::1", "unique-local"),
        ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2001:db8::1", "documentation"), ("fe80::1%eth0", "link-local"),
    ])
    func refused(_ address: String, _ words: String) {
        let reason = guarded.refusal(for: address)
        #expect(reason?.contains(words) == true, "\(address): \(reason ?? "allowed")")
    }

    @Test("global addresses are allowed", arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "192.169.0.1", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"])
    func allowed(_ address: String) {
        #expect(guarded.refusal(for: address) == nil)
    }

    @Test("the guard can be turned off, and non-addresses are refused")
    func switches() {
        #expect(AddressPolicy(allowPrivateNetworks: true).refusal(for: "127.0.0.1") == nil)
        #expect(guarded.refusal(for: "example.com") != nil)
        #expect(AddressPolicy.parseIPv4("1.2.3") == nil)
        #expect(AddressPolicy.parseIPv4("256.1.1.1") == nil)
        #expect(AddressPolicy.parseIPv6("1::2::3") == nil)
        #expect(AddressPolicy.parseIPv6("2001:db8::1")?.count == 16)
    }

    @Test("only canonical dotted quads are IPv4 addresses: resolvers read the other forms differently",
          arguments: ["012.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "1.2.3.04", "00.0.0.0", "1.2.3.4.", " 1.2.3.4", "١.2.3.4"])
    func nonCanonicalIPv4(_ text: String) {
        #expect(AddressPolicy.parseIPv4(text) == nil)
        #expect(guarded.refusal(for: text) != nil)
    }

    @Test("addresses format canonically")
    func formats() throws {
        #expect(AddressPolicy.formatIPv4(try #require(AddressPolicy.parseIPv4("10.0.200.1"))) == "10.0.200.1")
        #expect(AddressPolicy.formatIPv6(try #require(AddressPolicy.parseIPv6("2001:DB8:0:0:1:0:0:1"))) == "2001:db8::1:0:0:1")
        #expect(AddressPolicy.formatIPv6(try #require(AddressPolicy.parseIPv6("::"))) == "::")
        #expect(AddressPolicy.formatIPv6(try #require(AddressPolicy.parseIPv6("::1"))) == "::1")
        #expect(AddressPolicy.formatIPv6(try #require(AddressPolicy.parseIPv6("fe80::"))) == "fe80::")
        #expect(AddressPolicy.formatIPv6(try #require(AddressPolicy.parseIPv6("1:0:2:3:4:5:6:7"))) == "1:0:2:3:4:5:6:7")
        #expect(AddressPolicy.parseIPv6("+1::") == nil)
    }
}
