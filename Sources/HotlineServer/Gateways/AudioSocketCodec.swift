public import NIOCore
public import Foundation

// MARK: - Asterisk AudioSocket messages

/// One AudioSocket message: `type: UInt8 | length: UInt16 big-endian | payload`.
public enum AudioSocketMessage: Sendable, Equatable {
    /// `0x00`: the call is over.
    case hangup
    /// `0x01`: the call's UUID (16 raw bytes); always the first message from Asterisk.
    case uuid(UUID)
    /// `0x03`: one DTMF digit.
    case dtmf(Character)
    /// `0x10` and the configured higher-rate types: signed 16-bit little-endian mono PCM at `sampleRate`.
    case audio(ByteBuffer, sampleRate: Int)
    /// `0xff`: Asterisk reports an error; `code` holds its bit flags when present.
    case error(code: UInt8?)

    /// Kind byte of each message type.
    public enum Kind: UInt8, Sendable {
        case hangup = 0x00, uuid = 0x01, dtmf = 0x03, slin = 0x10, error = 0xff
    }

    /// The error flags' meanings (`0x01` caller hung up, `0x02` frame forwarding, `0x04` memory).
    public static func describe(errorCode code: UInt8?) -> String {
        guard let code else { return "error (no code)" }
        var parts: [String] = []
        if code & 0x01 != 0 { parts.append("caller hung up") }
        if code & 0x02 != 0 { parts.append("frame forwarding error") }
        if code & 0x04 != 0 { parts.append("memory error") }
        return String(format: "error 0x%02x", code) + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
    }
}

/// Why an AudioSocket byte stream could not be decoded. The connection is closed with this message.
public struct AudioSocketProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let description: String
}

/// Audio message types and their sample rates. Only `0x10` (8 kHz slin) is fixed by the protocol; the numbering of
/// higher rates changed between Asterisk versions, so they are configured, and unknown types are rejected.
public struct AudioSocketRates: Sendable, Equatable {
    /// Type byte → sample rate.
    public var rates: [UInt8: Int]

    /// 8 kHz only.
    public static let standard = AudioSocketRates(rates: [0x10: 8_000])

    /// Asterisk 20+ numbering (`0x11` 12 kHz, `0x12` 16 kHz, `0x13` 24 kHz, `0x14` 32 kHz, `0x15` 44.1 kHz, `0x16` 48 kHz).
    public static let asterisk20 = AudioSocketRates(rates: [0x10: 8_000, 0x11: 12_000, 0x12: 16_000, 0x13: 24_000, 0x14: 32_000,
                                                            0x15: 44_100, 0x16: 48_000])

    /// Makes a table.
    public init(rates: [UInt8: Int]) { self.rates = rates }

    /// The type byte for audio at a rate.
    public func kind(forRate rate: Int) -> UInt8? { rates.filter { $0.value == rate }.map(\.key).min() }
}

// MARK: - Decoder

/// Decodes AudioSocket messages from a TCP byte stream. Frames may arrive split at any byte or many per read.
public struct AudioSocketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = AudioSocketMessage

    /// Largest payload accepted; a longer length is rejected before its bytes arrive.
    public let maximumPayload: Int
    /// Audio types understood.
    public let rates: AudioSocketRates

    /// Makes a decoder. 4096 bytes is 128 ms of 16 kHz audio: far above any frame Asterisk sends.
    public init(maximumPayload: Int = 4_096, rates: AudioSocketRates = .standard) {
        self.maximumPayload = maximumPayload
        self.rates = rates
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> AudioSocketMessage? {
        guard buffer.readableBytes >= 3,
              let kind = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .big, as: UInt16.self)
        else { return nil }
        let size = Int(length)
        // Validate the header before waiting for the payload: a bad stream fails at once.
        let known = AudioSocketMessage.Kind(rawValue: kind) != nil || rates.rates[kind] != nil
        guard known else { throw AudioSocketProtocolError(description: String(format: "unknown message type 0x%02x (length %d)", kind, size)) }
        guard size <= maximumPayload else {
            throw AudioSocketProtocolError(description: String(format: "message type 0x%02x has length %d, above the limit of %d bytes", kind, size, maximumPayload))
        }
        guard buffer.readableBytes >= 3 + size else { return nil }
        buffer.moveReaderIndex(forwardBy: 3)
        let payload = buffer.readSlice(length: size)!
        if let rate = rates.rates[kind] {
            guard size % 2 == 0 else { throw AudioSocketProtocolError(description: "audio message of \(size) bytes is not whole 16-bit samples") }
            return .audio(payload, sampleRate: rate)
        }
        switch AudioSocketMessage.Kind(rawValue: kind)! {
        case .hangup:
            return .hangup
        case .uuid:
            guard size == 16 else { throw AudioSocketProtocolError(description: "UUID message has \(size) bytes, not 16") }
            let bytes = payload.getBytes(at: payload.readerIndex, length: 16)!
            let uuid = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                   bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
            return .uuid(uuid)
        case .dtmf:
            guard size == 1, let byte = payload.getInteger(at: payload.readerIndex, as: UInt8.self),
                  let digit = Self.dtmfDigits.first(where: { $0.asciiValue == byte })
            else { throw AudioSocketProtocolError(description: "DTMF message is not one digit (0-9, *, #, A-D): \(payload.readableBytes) bytes") }
            return .dtmf(digit)
        case .error:
            return .error(code: payload.getInteger(at: payload.readerIndex, as: UInt8.self))
        case .slin:
            // Reached only when a configuration drops 0x10 from the rates.
            throw AudioSocketProtocolError(description: "audio type 0x10 is not enabled")
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> AudioSocketMessage? {
        if let message = try decode(buffer: &buffer) { return message }
        if buffer.readableBytes > 0, seenEOF {
            throw AudioSocketProtocolError(description: "connection closed in the middle of a message (\(buffer.readableBytes) bytes left)")
        }
        return nil
    }

    static let dtmfDigits = Array("0123456789*#ABCD")
}

// MARK: - Encoder

/// Encodes AudioSocket messages (what Hotline sends back: audio, hangup, error).
public struct AudioSocketEncoder: MessageToByteEncoder {
    public typealias OutboundIn = AudioSocketMessage

    /// Audio types understood.
    public let rates: AudioSocketRates

    /// Makes an encoder.
    public init(rates: AudioSocketRates = .standard) { self.rates = rates }

    public func encode(data: AudioSocketMessage, out: inout ByteBuffer) throws {
        switch data {
        case .hangup:
            out.writeBytes([0x00, 0x00, 0x00])
        case .uuid(let uuid):
            out.writeInteger(UInt8(0x01))
            out.writeInteger(UInt16(16), endianness: .big)
            withUnsafeBytes(of: uuid.uuid) { _ = out.writeBytes($0) }
        case .dtmf(let digit):
            out.writeInteger(UInt8(0x03))
            out.writeInteger(UInt16(1), endianness: .big)
            out.writeInteger(digit.asciiValue ?? UInt8(ascii: "0"))
        case .audio(let payload, let rate):
            guard let kind = rates.kind(forRate: rate) else {
                throw AudioSocketProtocolError(description: "no AudioSocket audio type is configured for \(rate) Hz")
            }
            out.writeInteger(kind)
            out.writeInteger(UInt16(payload.readableBytes), endianness: .big)
            out.writeImmutableBuffer(payload)
        case .error(let code):
            out.writeInteger(UInt8(0xff))
            out.writeInteger(UInt16(code == nil ? 0 : 1), endianness: .big)
            if let code { out.writeInteger(code) }
        }
    }
}

// MARK: - Channel setup

extension NIOAsyncChannel where Inbound == AudioSocketMessage, Outbound == AudioSocketMessage {
    /// Frames a TCP channel as AudioSocket messages: the server's connections and its clients (tests, the load generator).
    /// Call on the channel's event loop (in a bootstrap's channel initializer).
    public static func audioSocket(wrapping channel: any Channel, maximumPayload: Int = 4_096, rates: AudioSocketRates = .standard) throws -> Self {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(AudioSocketDecoder(maximumPayload: maximumPayload, rates: rates)))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(AudioSocketEncoder(rates: rates)))
        return try Self(wrappingChannelSynchronously: channel)
    }
}
