public import Foundation

/// Stored calls written out for other tools: JSON (everything), CSV (one row per line of speech), SRT and WebVTT
/// subtitles (per call, aligned to the recording).
public enum CallExport {
    /// The formats.
    public enum Format: String, Sendable, CaseIterable {
        case json
        case csv
        case srt
        case vtt

        /// MIME type.
        public var mediaType: String {
            switch self {
            case .json: "application/json"
            case .csv: "text/csv; charset=utf-8"
            case .srt: "application/x-subrip; charset=utf-8"
            case .vtt: "text/vtt; charset=utf-8"
            }
        }
    }

    /// Renders calls in a format (subtitles of several calls follow one another, each headed by its call id).
    public static func render(_ calls: [CallDetail], as format: Format) -> String {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            return (try? encoder.encode(calls)).flatMap { String(data: $0, encoding: .utf8) } ?? "[]"
        case .csv:
            var rows = ["call_id,started_at,status,intent,score,sequence,speaker,start,end,confidence,line_intent,text"]
            let dates = Date.ISO8601FormatStyle()
            for detail in calls {
                let call = detail.call
                for line in detail.utterances {
                    let score: String = call.score.map { String(format: "%.0f", $0) } ?? ""
                    let confidence: String = line.confidence.map { String(format: "%.2f", $0) } ?? ""
                    let fields: [String] = [call.id, dates.format(call.startedAt), call.status.rawValue, call.intent ?? "", score, String(line.sequence),
                                            line.speaker, String(format: "%.2f", line.start), String(format: "%.2f", line.end), confidence,
                                            line.intent ?? "", line.text]
                    rows.append(fields.map(csvField).joined(separator: ","))
                }
            }
            return rows.joined(separator: "\r\n") + "\r\n"
        case .srt, .vtt:
            var output = format == .vtt ? "WEBVTT\n\n" : ""
            var index = 1
            for detail in calls {
                if calls.count > 1 { output += format == .vtt ? "NOTE call \(detail.call.id)\n\n" : "" }
                for line in detail.utterances where !line.text.isEmpty {
                    let end = max(line.end, line.start + 0.5)
                    output += format == .srt ? "\(index)\n" : ""
                    output += "\(timestamp(line.start, format)) --> \(timestamp(end, format))\n\(line.speaker): \(line.text)\n\n"
                    index += 1
                }
            }
            return output
        }
    }

    static func timestamp(_ seconds: Double, _ format: Format) -> String {
        TranscriptFormatter.clock(seconds, separator: format == .srt ? "," : ".")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
