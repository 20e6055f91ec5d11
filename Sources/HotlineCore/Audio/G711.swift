// MARK: - G.711

/// ITU-T G.711 companding: μ-law (North America, Japan) and A-law (Europe), as used on telephone legs.
///
/// Encoders follow the ITU reference (segment search with bias for μ-law, even-bit inversion for A-law),
/// so every 8-bit code decodes to the value in the G.711 tables and re-encodes to itself.
public enum G711 {
    // MARK: μ-law

    private static let muLawBias: Int32 = 0x84
    private static let muLawClip: Int32 = 8_159  // 14-bit magnitude limit

    /// Encodes one 16-bit linear sample to μ-law.
    @inlinable
    public static func muLaw(fromLinear sample: Int16) -> UInt8 {
        muLawEncodeTable[Int(UInt16(bitPattern: sample) >> 2)]
    }

    /// Decodes one μ-law byte to a 16-bit linear sample.
    @inlinable
    public static func linear(fromMuLaw code: UInt8) -> Int16 {
        muLawDecodeTable[Int(code)]
    }

    // MARK: A-law

    /// Encodes one 16-bit linear sample to A-law.
    @inlinable
    public static func aLaw(fromLinear sample: Int16) -> UInt8 {
        aLawEncodeTable[Int(UInt16(bitPattern: sample) >> 3)]
    }

    /// Decodes one A-law byte to a 16-bit linear sample.
    @inlinable
    public static func linear(fromALaw code: UInt8) -> Int16 {
        aLawDecodeTable[Int(code)]
    }

    // MARK: Buffers

    /// Encodes samples to μ-law.
    public static func muLaw(fromLinear samples: [Int16]) -> [UInt8] { samples.map(muLaw(fromLinear:)) }
    /// Decodes μ-law bytes.
    public static func linear(fromMuLaw codes: some Sequence<UInt8>) -> [Int16] { codes.map(linear(fromMuLaw:)) }
    /// Encodes samples to A-law.
    public static func aLaw(fromLinear samples: [Int16]) -> [UInt8] { samples.map(aLaw(fromLinear:)) }
    /// Decodes A-law bytes.
    public static func linear(fromALaw codes: some Sequence<UInt8>) -> [Int16] { codes.map(linear(fromALaw:)) }

    // MARK: Reference algorithms (used to build the tables)

    /// The ITU reference μ-law encoder on a 16-bit sample (14-bit magnitude).
    static func referenceMuLaw(_ sample: Int16) -> UInt8 {
        var value = Int32(sample) >> 2  // 14-bit
        let sign: Int32
        if value < 0 { value = -value; sign = 0x7F } else { sign = 0xFF }
        value = min(value, muLawClip) + (muLawBias >> 2)
        var segment: Int32 = 0
        var limit: Int32 = 0x3F
        while segment < 8, value > limit { segment += 1; limit = (limit << 1) | 1 }
        if segment >= 8 { return UInt8(0x7F ^ sign) }
        let mantissa = (value >> (segment + 1)) & 0x0F
        return UInt8(((segment << 4) | mantissa) ^ sign)
    }

    /// The ITU reference μ-law decoder.
    static func referenceLinear(muLaw code: UInt8) -> Int16 {
        let value = ~Int32(code) & 0xFF
        var magnitude = ((value & 0x0F) << 3) + muLawBias
        magnitude <<= (value & 0x70) >> 4
        return Int16(value & 0x80 != 0 ? muLawBias - magnitude : magnitude - muLawBias)
    }

    /// The ITU reference A-law encoder on a 16-bit sample (13-bit magnitude).
    static func referenceALaw(_ sample: Int16) -> UInt8 {
        var value = Int32(sample) >> 3  // 13-bit
        let mask: Int32
        if value >= 0 { mask = 0xD5 } else { mask = 0x55; value = -value - 1 }
        let segmentEnds: [Int32] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
        guard let segment = segmentEnds.firstIndex(where: { value <= $0 }) else { return UInt8(0x7F ^ mask) }
        var code = Int32(segment) << 4
        code |= segment < 2 ? (value >> 1) & 0x0F : (value >> segment) & 0x0F
        return UInt8(code ^ mask)
    }

    /// The ITU reference A-law decoder.
    static func referenceLinear(aLaw code: UInt8) -> Int16 {
        let value = Int32(code) ^ 0x55
        var magnitude = (value & 0x0F) << 4
        let segment = (value & 0x70) >> 4
        switch segment {
        case 0: magnitude += 8
        case 1: magnitude += 0x108
        default: magnitude = (magnitude + 0x108) << (segment - 1)
        }
        return Int16(value & 0x80 != 0 ? magnitude : -magnitude)
    }

    @usableFromInline static let muLawEncodeTable: [UInt8] = (0..<16_384).map { referenceMuLaw(Int16(bitPattern: UInt16($0 << 2))) }
    @usableFromInline static let muLawDecodeTable: [Int16] = (0..<256).map { referenceLinear(muLaw: UInt8($0)) }
    @usableFromInline static let aLawEncodeTable: [UInt8] = (0..<8_192).map { referenceALaw(Int16(bitPattern: UInt16($0 << 3))) }
    @usableFromInline static let aLawDecodeTable: [Int16] = (0..<256).map { referenceLinear(aLaw: UInt8($0)) }
}
