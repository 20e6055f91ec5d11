import Foundation
import HotlineCore
import Logging
import Metrics
import ServiceLifecycle

/// Runs beside the listeners: deletes calls past the retention period (at start and then every `interval`), and on
/// shutdown — after the last call has ended — writes out what is queued, stops the live feed and closes the store.
struct QualityStoreService: Service, CustomStringConvertible {
    var description: String { "QualityStoreService" }

    let quality: QualityServices
    let retentionDays: Double?
    let interval: Duration
    let logger: Logger

    func run() async throws {
        if let retentionDays {
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    await purge(olderThan: retentionDays)
                    try? await Task.sleep(for: interval)
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        await quality.writer.stop()
        quality.feed.shutdown()
        do {
            try await quality.store.close()
        } catch {
            logger.warning("closing the transcript store failed", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes calls (transcripts, findings, reviews, recordings) that started more than `days` ago.
    func purge(olderThan days: Double) async {
        let cutoff = Date().addingTimeInterval(-days * 86_400)
        do {
            let deleted = try await quality.store.deleteCalls(startedBefore: cutoff)
            Counter(label: "hotline_retention_deleted_calls_total").increment(by: deleted)
            if deleted > 0 { logger.info("retention: deleted old calls", metadata: ["calls": "\(deleted)", "before": "\(cutoff)"]) }
            _ = try await quality.store.deleteExpiredSessions()
        } catch {
            logger.warning("retention: could not delete old calls; will retry", metadata: ["error": "\(error)"])
        }
    }
}
