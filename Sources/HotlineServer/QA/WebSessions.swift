import Crypto
import Foundation
public import HotlineCore
import HTTPTypes
import Hummingbird

// MARK: - Signed-in sessions for the QA pages

/// The QA page's sign-in: a random session id in an HttpOnly, SameSite=Strict cookie; the store keeps only its SHA-256
/// digest, the name of the key that signed in and when it expires, so any node sharing the store accepts it and logout
/// ends it everywhere. The cookie never holds a key, and the REST API takes keys from headers only: a session reaches
/// the QA routes the page itself uses, with the roles its key has now.
extension HotlineServer {
    /// Starts a session for `identity`; returns the `Set-Cookie` value.
    func startSession(for identity: Identity, _ qa: QualityServices, secure: Bool) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let id = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let lifetime = configuration.sessionHours * 3_600
        try await qa.store.save(session: WebSession(digest: Self.digest(id), keyName: identity.name, expiresAt: Date().addingTimeInterval(lifetime)))
        return "\(AccessControl.sessionCookie)=\(id); Path=/; Max-Age=\(Int(lifetime)); HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
    }

    /// Ends the request's session, if it has one; returns the `Set-Cookie` value that clears the cookie.
    func endSession(_ request: Request, _ qa: QualityServices) async -> String {
        if let id = sessionId(request) { try? await qa.store.deleteSession(digest: Self.digest(id)) }
        return "\(AccessControl.sessionCookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    }

    /// The identity a request's session cookie stands for: `nil` without one, or when it is unknown, expired, or its key
    /// is no longer configured. Throws when the store cannot be asked (``StoreUnavailable``: a 503, not a log-out).
    func sessionIdentity(_ request: Request, _ qa: QualityServices) async throws -> Identity? {
        guard let id = sessionId(request), let session = try await qa.store.session(digest: Self.digest(id)) else { return nil }
        return access.identity(named: session.keyName)
    }

    /// The identity behind a QA request: a key in its headers, or else the page's session. 401/403 as `authorize`.
    func authorizeQA(_ request: Request, _ qa: QualityServices, _ roles: Set<Role>) async throws -> Identity {
        if presentedSecret(request) == nil, let identity = try await sessionIdentity(request, qa) {
            guard roles.contains(where: identity.has) else {
                throw HTTPError(.forbidden, message: "key '\(identity.name)' lacks the role for this endpoint")
            }
            return identity
        }
        return try authorize(request, roles)
    }

    private func sessionId(_ request: Request) -> String? {
        guard let header = request.headers[.cookie], let id = AccessControl.cookie(named: AccessControl.sessionCookie, in: header),
              id.count == 64, id.allSatisfy(\.isHexDigit) else { return nil }
        return id
    }

    static func digest(_ id: String) -> String {
        SHA256.hash(data: Data(id.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
