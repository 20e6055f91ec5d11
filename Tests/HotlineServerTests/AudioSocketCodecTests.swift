import Foundation
@testable import HotlineServer
import NIOCore
import NIOTestUtils
import Testing

@Suite struct AudioSocketCodecTests {
    /// The documented example: `01 00 10` + 16 bytes is UUID 0436430c-2b02-624c-2032-570501212b57.
    @Test func documentedUUIDExample() throws {
        var buffer = ByteBuffer(bytes: [0x01, 0x00, 0x10, 0x04, 0x36, 0x43, 0x0c, 0x2b, 0x02, 0x62, 0x4c, 0x20, 0x32, 0x57, 0x05, 0x01, 0x21, 0x2b, 0x57])
        var decoder = AudioSocketDecoder()
        let message = try decoder.decode(buffer: &buffer)
        #expect(message == .uuid(UUID(uuidString: "0436430c-2b02-624c-2032-570501212b57")!))
        #expect(buffer.readableBytes == 0)
    }

    static let audio = ByteBuffer(bytes: (0..<320).map { UInt8($0 % 251) })

    /// Every message kind, split at every byte boundary and packed many per read, decodes the same.
    @Test func decoderVerifier() throws {
        let uuid = UUID(uuidString: "0436430c-2b02-624c-2032-570501212b57")!
        func bytes(_ message: AudioSocketMessage) throws -> ByteBuffer {
            var out = ByteBuffer()
            try AudioSocketEncoder().encode(data: message, out: &out)
            return out
        }
        let messages: [AudioSocketMessage] = [.uuid(uuid), .audio(Self.audio, sampleRate: 8_000), .dtmf("5"), .dtmf("#"), .error(code: 0x01), .error(code: nil), .hangup]
        var all = ByteBuffer()
        for message in messages { all.writeImmutableBuffer(try bytes(message)) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(all, messages)] + messages.map { (try bytes($0), [$0]) },
            decoderFactory: { AudioSocketDecoder() }
        )
    }

    @Test func hangupIsThreeBytes() throws {
        var out = ByteBuffer()
        try AudioSocketEncoder().encode(data: .hangup, out: &out)
        #expect(Array(out.readableBytesView) == [0, 0, 0])
    }

    @Test(arguments: [
        ([UInt8]([0x42, 0x00, 0x01, 0x00]), "unknown message type 0x42"),
        ([0x10, 0x20, 0x00], "length 8192, above the limit of 4096"),
        ([0x10, 0x00, 0x03, 1, 2, 3], "not whole 16-bit samples"),
        ([0x01, 0x00, 0x04, 1, 2, 3, 4], "UUID message has 4 bytes"),
        ([0x03, 0x00, 0x01, UInt8(ascii: "x")], "DTMF message is not one digit"),
        ([0x12, 0x00, 0x02, 0, 0], "unknown message type 0x12"),
    ])
    func malformedInputIsNamed(bytes: [UInt8], message: String) {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = AudioSocketDecoder()
        #expect {
            _ = try decoder.decode(buffer: &buffer)
        } throws: { error in
            (error as? AudioSocketProtocolError)?.description.contains(message) == true
        }
    }

    /// Higher rates exist only when configured (their numbering differs between Asterisk versions).
    @Test func configuredRates() throws {
        var buffer = ByteBuffer(bytes: [0x12, 0x00, 0x02, 0x01, 0x00])
        var decoder = AudioSocketDecoder(rates: .asterisk20)
        #expect(try decoder.decode(buffer: &buffer) == .audio(ByteBuffer(bytes: [1, 0]), sampleRate: 16_000))
    }

    @Test func truncatedStreamIsAnError() {
        var buffer = ByteBuffer(bytes: [0x10, 0x01, 0x40, 0, 0])
        var decoder = AudioSocketDecoder()
        #expect(throws: AudioSocketProtocolError.self) { _ = try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
    }
}

@Suite struct ConfigurationTests {
    @Test func yamlAndEnvironment() throws {
        var configuration = ServerConfiguration()
        try configuration.apply(yaml: """
            http:
              port: 9000
            audiosocket:
              allow: [10.0.0.]
              rates: asterisk20
            auth:
              keys:
                - name: asterisk
                  key_env: GATEWAY_KEY
                  roles: [gateway]
                  max_calls: 3
                - name: reviewers
                  key: qa-0123456789abcdef
                  roles: [qa]
            calls:
              recognizers: 4
            """, file: "hotline.yaml", environment: ["GATEWAY_KEY": "gateway-0123456789abcdef"])
        try configuration.apply(environment: ["HOTLINE_HTTP_PORT": "9100"])
        #expect(configuration.httpPort == 9100)
        #expect(configuration.audioSocketAllow == ["10.0.0."])
        #expect(configuration.audioSocketRates == .asterisk20)
        #expect(configuration.recognizers == 4)
        #expect(configuration.keys.map(\.name) == ["asterisk", "reviewers"])
        #expect(configuration.keys[0].secret == "gateway-0123456789abcdef")
        #expect(configuration.keys[0].maximumCalls == 3)
    }

    @Test(arguments: [
        ("http:\n  prot: 80\n", "hotline.yaml:2:9: unknown key 'prot' in http"),
        ("calls:\n  recognizers: many\n", "hotline.yaml:2:16: calls.recognizers must be a whole number"),
        ("auth:\n  keys:\n    - name: a\n      key: short\n      roles: [gateway]\n", "keys must be at least 16 characters"),
        ("auth:\n  anonymous_roles: [root]\n", "unknown role 'root'"),
        ("http: [\n", "not valid YAML"),
    ])
    func errorsNameFileLineAndKey(yaml: String, expected: String) {
        var configuration = ServerConfiguration()
        #expect {
            try configuration.apply(yaml: yaml, file: "hotline.yaml", environment: [:])
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func credentials() {
        let access = AccessControl(keys: [APIKey(name: "gw", secret: "gateway-0123456789abcdef", roles: [.gateway])], anonymousRoles: [])
        #expect(access.identify(secret: "gateway-0123456789abcdef")?.name == "gw")
        #expect(access.identify(secret: "gateway-0123456789abcdeF") == nil)
        #expect(access.identify(secret: "gateway-0123456789abcdef0") == nil)
        #expect(access.identify(secret: nil)?.roles == [])
        #expect(AccessControl.secret(authorization: "Bearer abc", apiKeyHeader: nil, query: nil) == "abc")
        let basic = Data("fs:abc".utf8).base64EncodedString()
        #expect(AccessControl.secret(authorization: "Basic \(basic)", apiKeyHeader: nil, query: nil) == "abc")
        #expect(AccessControl.secret(authorization: nil, apiKeyHeader: nil, query: "a=1&token=xyz") == "xyz")
        #expect(AccessControl.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AccessControl.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
    }
}
