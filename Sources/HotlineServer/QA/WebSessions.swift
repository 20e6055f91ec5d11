import Crypto
import Foundation
public import HotlineCore
import HTTPTypes
import Hummingbird
import Synchronization

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
        if let id = sessionId(request) {
            qa.sessions.forget(Self.digest(id))
            try? await qa.store.deleteSession(digest: Self.digest(id))
        }
        return "\(AccessControl.sessionCookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    }

    /// The identity a request's session cookie stands for: `nil` without one, or when it is unknown, expired, or its key
    /// is no longer configured. While the store is unavailable, a session this node checked in the last
    /// ``SessionCache/trusted`` still stands (supervisors keep the live calls in view); any other throws
    /// ``StoreUnavailable`` (a 503, not a log-out).
    func sessionIdentity(_ request: Request, _ qa: QualityServices) async throws -> Identity? {
        guard let id = sessionId(request) else { return nil }
        let digest = Self.digest(id)
        let session: WebSession?
        do {
            session = try await qa.store.session(digest: digest)
        } catch let error as StoreUnavailable {
            guard let cached = qa.sessions.recent(digest) else { throw error }
            return access.identity(named: cached.keyName)
        }
        guard let session else {
            qa.sessions.forget(digest)
            return nil
        }
        qa.sessions.checked(session)
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

/// The sessions this node checked against the store lately, so that a signed-in viewer keeps the pages that need no
/// store (the live calls) through a store outage. Only used while the store is unavailable; at most 10 000 kept.
public final class SessionCache: Sendable {
    /// How long after its last check a session is still trusted without the store.
    public static let trusted: Duration = .seconds(15 * 60)
    private let sessions = Mutex<[String: (session: WebSession, checked: ContinuousClock.Instant)]>([:])

    public init() {}

    func checked(_ session: WebSession) {
        sessions.withLock { sessions in
            if sessions.count >= 10_000 { sessions.removeAll(keepingCapacity: true) }
            sessions[session.digest] = (session, .now)
        }
    }

    func forget(_ digest: String) { _ = sessions.withLock { $0.removeValue(forKey: digest) } }

    func recent(_ digest: String) -> WebSession? {
        sessions.withLock { sessions in
            guard let entry = sessions[digest], ContinuousClock.now - entry.checked < Self.trusted, entry.session.expiresAt > Date() else { return nil }
            return entry.session
        }
    }
}
