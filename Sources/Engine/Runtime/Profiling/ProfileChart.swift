import Foundation

/// A self-contained SVG bar chart: time by op type, one horizontal stacked bar per phase.
public enum ProfileChart {
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                          "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ffbb78", "#98df8a"]

    /// The chart for a report.
    public static func svg(_ report: ProfileReport, title: String) -> String {
        let phaseNames = report.phases.map(\.phase)
        var opTotals: [String: Double] = [:]
        for cell in report.phaseOpMs { opTotals[cell.op, default: 0] += cell.ms }
        let ops = opTotals.keys.sorted { opTotals[$0]! > opTotals[$1]! }
        let maxPhase = max(report.phases.map(\.totalMs).max() ?? 1, 1e-6)
        let left = 130.0, barWidth = 560.0, rowHeight = 34.0, top = 50.0
        let legendTop = top + Double(phaseNames.count) * rowHeight + 20
        let height = legendTop + Double((ops.count + 2) / 3) * 20 + 30
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"10\" y=\"24\" font-size=\"15\" font-weight=\"bold\">\(esc(title))</text>\n"
        svg += "<text x=\"10\" y=\"40\" fill=\"#555\">time by operator in each phase (bar length: phase wall time; \(report.runs) run(s))</text>\n"
        for (i, phase) in phaseNames.enumerated() {
            let y = top + Double(i) * rowHeight
            let total = report.phases[i].totalMs
            svg += "<text x=\"10\" y=\"\(y + 17)\">\(esc(phase))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(y + 4)\" width=\"\(barWidth * total / maxPhase)\" height=\"20\" fill=\"#eee\"/>\n"
            var x = left
            for op in ops {
                let ms = report.phaseOpMs.first { $0.phase == phase && $0.op == op }?.ms ?? 0
                if ms <= 0 { continue }
                let w = barWidth * ms / maxPhase
                let color = palette[(ops.firstIndex(of: op) ?? 0) % palette.count]
                svg += "<rect x=\"\(x)\" y=\"\(y + 4)\" width=\"\(w)\" height=\"20\" fill=\"\(color)\"><title>\(esc(phase)) / \(esc(op)): \(String(format: "%.2f", ms)) ms</title></rect>\n"
                x += w
            }
            svg += "<text x=\"\(left + barWidth * total / maxPhase + 6)\" y=\"\(y + 18)\">\(String(format: "%.1f", total)) ms</text>\n"
        }
        for (i, op) in ops.enumerated() {
            let x = 10.0 + Double(i % 3) * 260, y = legendTop + Double(i / 3) * 20
            svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>"
            svg += "<text x=\"\(x + 18)\" y=\"\(y + 11)\">\(esc(op)) — \(String(format: "%.1f", opTotals[op]!)) ms</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }
}
