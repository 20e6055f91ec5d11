import Foundation
import HotlineCore

/// Server-rendered SVG charts for the dashboard: readable at a glance, no script, nothing fetched from elsewhere.
enum Chart {
    static let accent = "#2b59c3"

    /// Vertical bars over a sequence (calls per hour).
    static func columns(_ values: [(String, Double)], title: String) -> String {
        let width = 560.0, height = 220.0, left = 34.0, bottom = 24.0, top = 10.0
        // Counts: a top that divides into four whole-number ticks.
        let maximum = (max(values.map(\.1).max() ?? 0, 4) / 4).rounded(.up) * 4
        let step = (width - left) / Double(max(values.count, 1))
        let labelEvery = max(1, values.count / 12)
        var marks = axis(maximum: maximum, width: width, left: left, top: top, plot: height - bottom - top)
        for (index, (label, value)) in values.enumerated() {
            let barHeight = value / maximum * (height - bottom - top)
            let x = left + Double(index) * step
            marks += "<rect x=\"\(f(x + step * 0.15))\" y=\"\(f(height - bottom - barHeight))\" width=\"\(f(step * 0.7))\" height=\"\(f(barHeight))\" fill=\"\(accent)\" rx=\"2\"><title>\(QAPage.escape(label)): \(Int(value))</title></rect>"
            if index % labelEvery == 0 {
                marks += "<text x=\"\(f(x + step / 2))\" y=\"\(f(height - 6))\" font-size=\"10\" text-anchor=\"middle\" fill=\"#667085\">\(QAPage.escape(label))</text>"
            }
        }
        return frame(title, width: width, height: height, marks)
    }

    /// Horizontal bars, largest first (reasons, queues, intents, rules).
    static func bars(_ counts: [String: Int], title: String, limit: Int = 8) -> String {
        let items = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit)
        guard !items.isEmpty else { return "<h2>\(QAPage.escape(title))</h2><p class=muted>Nothing in this period.</p>" }
        let width = 560.0, row = 26.0, labelWidth = 210.0
        let height = Double(items.count) * row + 8
        let maximum = Double(items.map(\.value).max() ?? 1)
        var marks = ""
        for (index, item) in items.enumerated() {
            let y = Double(index) * row + 4
            let barWidth = Double(item.value) / maximum * (width - labelWidth - 40)
            let label = item.key.count > 32 ? String(item.key.prefix(31)) + "…" : item.key
            marks += "<text x=\"\(f(labelWidth - 8))\" y=\"\(f(y + 16))\" font-size=\"12\" text-anchor=\"end\" fill=\"#1d2433\">\(QAPage.escape(label))<title>\(QAPage.escape(item.key))</title></text>"
            marks += "<rect x=\"\(f(labelWidth))\" y=\"\(f(y + 3))\" width=\"\(f(max(barWidth, 2)))\" height=\"\(f(row - 8))\" fill=\"\(accent)\" rx=\"3\"/>"
            marks += "<text x=\"\(f(labelWidth + max(barWidth, 2) + 6))\" y=\"\(f(y + 16))\" font-size=\"12\" fill=\"#667085\">\(item.value)</text>"
        }
        return frame(title, width: width, height: height, marks)
    }

    /// A line over time (average score by day).
    static func line(_ values: [(String, Double)], title: String, maximum: Double) -> String {
        guard !values.isEmpty else { return "<h2>\(QAPage.escape(title))</h2><p class=muted>Nothing in this period.</p>" }
        let width = 560.0, height = 220.0, left = 34.0, bottom = 24.0, top = 10.0
        let plot = height - bottom - top
        let step = values.count > 1 ? (width - left - 20) / Double(values.count - 1) : 0
        let points = values.enumerated().map { index, item in (left + 10 + Double(index) * step, height - bottom - item.1 / maximum * plot) }
        var marks = axis(maximum: maximum, width: width, left: left, top: top, plot: plot)
        marks += "<polyline fill=\"none\" stroke=\"\(accent)\" stroke-width=\"2.5\" points=\"\(points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>"
        for (index, point) in points.enumerated() {
            marks += "<circle cx=\"\(f(point.0))\" cy=\"\(f(point.1))\" r=\"3.5\" fill=\"\(accent)\"><title>\(QAPage.escape(values[index].0)): \(Int(values[index].1.rounded()))</title></circle>"
            if index % max(1, values.count / 8) == 0 {
                marks += "<text x=\"\(f(point.0))\" y=\"\(f(height - 6))\" font-size=\"10\" text-anchor=\"middle\" fill=\"#667085\">\(QAPage.escape(values[index].0))</text>"
            }
        }
        return frame(title, width: width, height: height, marks)
    }

    /// A small line for a table cell (an agent's score by day), each point titled with its label and value.
    static func sparkline(_ values: [(String, Double)], maximum: Double) -> String {
        let width = 120.0, height = 28.0
        let step = values.count > 1 ? (width - 6) / Double(values.count - 1) : 0
        let points = values.enumerated().map { index, item in (3 + Double(index) * step, height - 3 - min(item.1, maximum) / maximum * (height - 6)) }
        let dots = points.enumerated().map { index, point in
            "<circle cx=\"\(f(point.0))\" cy=\"\(f(point.1))\" r=\"2\" fill=\"\(accent)\"><title>\(QAPage.escape(values[index].0)): \(Int(values[index].1.rounded()))</title></circle>"
        }.joined()
        return "<svg class=spark width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=img aria-label=\"score by day\">"
            + "<polyline fill=\"none\" stroke=\"\(accent)\" stroke-width=\"1.5\" points=\"\(points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>\(dots)</svg>"
    }

    /// The speakers of a call as lanes on one timeline: a bar per line (click to play from it), a row where two speak at
    /// once, and a row for silences of `silence` seconds or more; a summary of each speaker's share of the talk, the
    /// overlap and the longest silence.
    static func lanes(_ lines: [UtteranceRecord], duration: Double, silence: Double = 5) -> String {
        let spoken = lines.filter { $0.end > $0.start }
        guard !spoken.isEmpty else { return "" }
        let known = ["caller", "agent", "bot", "mixed"]
        var speakers = known.filter { speaker in spoken.contains { $0.speaker == speaker } }
        for line in spoken where !speakers.contains(line.speaker) { speakers.append(line.speaker) }
        let length = max(duration, spoken.map(\.end).max() ?? 0, 1)
        let width = 900.0, left = 64.0, laneHeight = 22.0, gap = 6.0
        func x(_ time: Double) -> Double { left + time / length * (width - left - 4) }
        var marks = ""
        for (index, speaker) in speakers.enumerated() {
            let y = Double(index) * (laneHeight + gap)
            marks += "<g class=\"lane\" data-speaker=\"\(QAPage.escape(speaker))\"><text x=\"0\" y=\"\(f(y + 15))\" font-size=\"12\" fill=\"#344054\">\(QAPage.escape(speaker))</text>"
            marks += "<rect x=\"\(f(left))\" y=\"\(f(y))\" width=\"\(f(width - left - 4))\" height=\"\(f(laneHeight))\" fill=\"#f2f4f7\"/>"
            for line in spoken where line.speaker == speaker {
                let color = ["caller": "#2b59c3", "agent": "#12805c", "bot": "#7a5af8"][speaker] ?? "#667085"
                marks += "<rect class=\"play seg\" data-start=\"\(line.start)\" x=\"\(f(x(line.start)))\" y=\"\(f(y + 3))\" width=\"\(f(max(1.5, x(line.end) - x(line.start))))\" "
                    + "height=\"\(f(laneHeight - 6))\" rx=\"2\" fill=\"\(color)\"><title>\(QAPage.escape(speaker)) \(QAPage.clock(line.start))–\(QAPage.clock(line.end)): "
                    + "\(QAPage.escape(String(line.text.prefix(120))))</title></rect>"
            }
            marks += "</g>"
        }
        // Two speakers at once, and nobody speaking.
        let merged = QualityChecker.overlaps(spoken.map { ($0.speaker, $0.start, $0.end, $0.sequence) }).spans
        var silences: [(Double, Double)] = []
        var until = 0.0
        for line in spoken.sorted(by: { $0.start < $1.start }) {
            if line.start - until >= silence { silences.append((until, line.start)) }
            until = max(until, line.end)
        }
        if length - until >= silence { silences.append((until, length)) }
        let y = Double(speakers.count) * (laneHeight + gap)
        marks += "<text x=\"0\" y=\"\(f(y + 11))\" font-size=\"11\" fill=\"#667085\">overlap</text>"
        for span in merged {
            marks += "<rect class=\"overlap play\" data-start=\"\(span.start)\" x=\"\(f(x(span.start)))\" y=\"\(f(y))\" width=\"\(f(max(1.5, x(span.end) - x(span.start))))\" height=\"14\" fill=\"#d92d20\">"
                + "<title>both speaking \(QAPage.clock(span.start))–\(QAPage.clock(span.end))</title></rect>"
        }
        let silenceY = y + 18
        marks += "<text x=\"0\" y=\"\(f(silenceY + 11))\" font-size=\"11\" fill=\"#667085\">silence</text>"
        for span in silences {
            marks += "<rect class=\"silence play\" data-start=\"\(span.0)\" x=\"\(f(x(span.0)))\" y=\"\(f(silenceY))\" width=\"\(f(x(span.1) - x(span.0)))\" height=\"14\" fill=\"#98a2b3\">"
                + "<title>\(String(format: "%.1f", span.1 - span.0)) s of silence from \(QAPage.clock(span.0))</title></rect>"
        }
        let height = silenceY + 18
        let talk = speakers.map { speaker -> String in
            let seconds = spoken.filter { $0.speaker == speaker }.reduce(0) { $0 + $1.end - $1.start }
            return "\(QAPage.escape(speaker)) \(Int((seconds / length * 100).rounded()))%"
        }.joined(separator: " · ")
        let overlapSeconds = merged.reduce(0) { $0 + $1.end - $1.start }
        let longest = silences.map { $0.1 - $0.0 }.max()
        let summary = "talk time \(talk) · overlap \(String(format: "%.1f", overlapSeconds)) s"
            + (longest.map { " · longest silence \(String(format: "%.1f", $0)) s" } ?? "")
        return "<svg id=lanes viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"who spoke when\" xmlns=\"http://www.w3.org/2000/svg\">\(marks)</svg>"
            + "<p id=lanes-summary class=muted>\(summary)</p>"
    }

    /// A thin bar filled to `fraction`.
    static func meter(_ fraction: Double) -> String {
        let filled = max(0, min(1, fraction)) * 100
        return "<svg viewBox=\"0 0 100 6\" width=\"100%\" height=\"6\" role=\"img\" aria-label=\"\(Int(filled))%\"><rect width=\"100\" height=\"6\" rx=\"3\" fill=\"#e4e7ec\"/><rect width=\"\(f(filled))\" height=\"6\" rx=\"3\" fill=\"#12805c\"/></svg>"
    }

    private static func axis(maximum: Double, width: Double, left: Double, top: Double, plot: Double) -> String {
        (0...4).map { tick in
            let value = maximum * Double(tick) / 4
            let y = top + plot - plot * Double(tick) / 4
            return "<line x1=\"\(f(left))\" x2=\"\(f(width))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#e4e7ec\"/><text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" font-size=\"10\" text-anchor=\"end\" fill=\"#667085\">\(value < 10 && value != value.rounded() ? String(format: "%.1f", value) : String(Int(value.rounded())))</text>"
        }.joined()
    }

    private static func frame(_ title: String, width: Double, height: Double, _ marks: String) -> String {
        "<h2>\(QAPage.escape(title))</h2><svg viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"\(QAPage.escape(title))\" xmlns=\"http://www.w3.org/2000/svg\">\(marks)</svg>"
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
