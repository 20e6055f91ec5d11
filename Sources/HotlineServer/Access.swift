import Foundation

// MARK: - Access control

/// Who made a request: a configured key, or nobody (anonymous roles only).
public struct Identity: Sendable, Equatable {
    /// The key's name ("anonymous" without one).
    public var name: String
    /// What it may do.
    public var roles: Set<Role>
    /// Concurrent calls allowed.
    public var maximumCalls: Int?
    /// Whether a key was presented and matched.
    public var authenticated: Bool

    /// Whether it has `role` (admin has every role).
    public func has(_ role: Role) -> Bool { roles.contains(role) || roles.contains(.admin) }
}

/// Checks credentials against the configured keys in constant time: every key is compared in full, whatever matches.
public struct AccessControl: Sendable {
    private let keys: [(key: APIKey, digest: [UInt8])]
    private let anonymousRoles: Set<Role>

    /// Makes the checker.
    public init(keys: [APIKey], anonymousRoles: Set<Role>) {
        self.keys = keys.map { ($0, Array($0.secret.utf8)) }
        self.anonymousRoles = anonymousRoles
    }

    /// The identity for a presented secret (`nil` secret: anonymous). Returns `nil` when a secret was presented and
    /// matches no key.
    public func identify(secret: String?) -> Identity? {
        guard let secret else { return Identity(name: "anonymous", roles: anonymousRoles, maximumCalls: nil, authenticated: false) }
        let presented = Array(secret.utf8)
        var match: APIKey?
        for (key, digest) in keys where Self.constantTimeEqual(presented, digest) && match == nil {
            match = key
        }
        return match.map { Identity(name: $0.name, roles: $0.roles, maximumCalls: $0.maximumCalls, authenticated: true) }
    }

    /// Compares two byte strings in time that depends only on the longer length.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }

    /// The identity of the configured key named `name` (a signed-in session stands for its key), if it still exists.
    public func identity(named name: String) -> Identity? {
        keys.first { $0.key.name == name }.map { Identity(name: $0.key.name, roles: $0.key.roles, maximumCalls: $0.key.maximumCalls, authenticated: true) }
    }

    /// The secret in an `Authorization` header (`Bearer KEY`, or `Basic` with the key as password or user), an
    /// `X-API-Key` header, or a `token` query parameter (WebSocket upgrades only: for clients that cannot set headers).
    static func secret(authorization: String?, apiKeyHeader: String?, query: String?) -> String? {
        if let apiKeyHeader, !apiKeyHeader.isEmpty { return apiKeyHeader }
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2 {
                let scheme = parts[0].lowercased()
                let value = String(parts[1]).trimmingCharacters(in: .whitespaces)
                if scheme == "bearer" { return value }
                if scheme == "basic", let data = Data(base64Encoded: value), let pair = String(data: data, encoding: .utf8) {
                    let halves = pair.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    if halves.count == 2, !halves[1].isEmpty { return String(halves[1]) }
                    return halves.first.map(String.init)
                }
            }
            return authorization  // an unknown scheme still counts as a (wrong) credential
        }
        if let query, let token = URLComponents(string: "?" + query)?.queryItems?.first(where: { $0.name == "token" })?.value { return token }
        return nil
    }

    /// The cookie the QA web page keeps its session id in after login (HttpOnly, SameSite=Strict). It never holds a key.
    static let sessionCookie = "hotline_session"

    /// A cookie's value from a `Cookie` header.
    static func cookie(named name: String, in header: String) -> String? {
        for pair in header.split(separator: ";") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]).removingPercentEncoding ?? String(parts[1]) }
        }
        return nil
    }
}
