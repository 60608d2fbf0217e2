import Foundation

/// A self-contained SVG bar chart: time by op type per run, one horizontal stacked bar per
/// phase (grey: the phase's time outside any node), a legend, and the slowest nodes as a table.
public enum ProfileChart {
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                          "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ffbb78", "#98df8a"]

    /// The chart for a report.
    public static func svg(_ report: ProfileReport, title: String) -> String {
        // Every figure is per run (the report sums its runs), so charts of runs of different
        // lengths compare.
        let perRun = 1 / Double(max(report.runs, 1))
        let phaseNames = report.phases.map(\.phase)
        var opTotals: [String: Double] = [:]
        for cell in report.phaseOpMs { opTotals[cell.op, default: 0] += cell.ms * perRun }
        let ops = opTotals.keys.sorted { opTotals[$0]! > opTotals[$1]! }
        let maxPhase = max((report.phases.map(\.totalMs).max() ?? 1) * perRun, 1e-6)
        let left = 130.0, barWidth = 560.0, rowHeight = 34.0, top = 50.0
        let legendTop = top + Double(phaseNames.count) * rowHeight + 20
        let legendRows = Double((ops.count + 1 + 2) / 3)
        let tableTop = legendTop + legendRows * 20 + 30
        let nodes = Array(report.topNodes.prefix(10))
        let height = tableTop + Double(nodes.count + 1) * 18 + 20
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        func ms(_ v: Double) -> String { String(format: "%.2f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"10\" y=\"24\" font-size=\"15\" font-weight=\"bold\">\(esc(title))</text>\n"
        svg += "<text x=\"10\" y=\"40\" fill=\"#555\">time by operator in each phase, in ms per run (mean of \(report.runs) run(s); bar length: the phase's wall time)</text>\n"
        for (i, phase) in phaseNames.enumerated() {
            let y = top + Double(i) * rowHeight
            let total = report.phases[i].totalMs * perRun
            svg += "<text x=\"10\" y=\"\(y + 17)\">\(esc(phase))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(y + 4)\" width=\"\(barWidth * total / maxPhase)\" height=\"20\" fill=\"#ddd\"><title>\(esc(phase)) / outside nodes: \(ms(total - report.phases[i].nodeMs * perRun)) ms per run</title></rect>\n"
            var x = left
            for op in ops {
                let value = (report.phaseOpMs.first { $0.phase == phase && $0.op == op }?.ms ?? 0) * perRun
                if value <= 0 { continue }
                let w = barWidth * value / maxPhase
                let color = palette[(ops.firstIndex(of: op) ?? 0) % palette.count]
                svg += "<rect x=\"\(x)\" y=\"\(y + 4)\" width=\"\(w)\" height=\"20\" fill=\"\(color)\"><title>\(esc(phase)) / \(esc(op)): \(ms(value)) ms per run</title></rect>\n"
                x += w
            }
            svg += "<text x=\"\(left + barWidth * total / maxPhase + 6)\" y=\"\(y + 18)\">\(String(format: "%.1f", total)) ms</text>\n"
        }
        let outside = report.outsideMs * perRun
        let legend = ops.map { ($0, "\($0) — \(String(format: "%.1f", opTotals[$0]!)) ms") }
            + [("", "outside nodes (image decoding, preprocessing, sampling, copies) — \(String(format: "%.1f", outside)) ms")]
        for (i, entry) in legend.enumerated() {
            let x = 10.0 + Double(i % 3) * 260, y = legendTop + Double(i / 3) * 20
            let color = entry.0.isEmpty ? "#ddd" : palette[i % palette.count]
            svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(x + 18)\" y=\"\(y + 11)\">\(esc(entry.1))</text>\n"
        }
        // The slowest nodes, with headers.
        let columns: [(String, Double, String)] = [("graph/node", 10, "start"), ("op", 370, "start"), ("backend", 500, "start"),
                                                   ("calls/run", 640, "end"), ("ms/run", 720, "end"), ("% of run", 800, "end")]
        svg += "<text x=\"10\" y=\"\(tableTop - 8)\" font-weight=\"bold\">slowest nodes</text>\n"
        for (name, x, anchor) in columns {
            svg += "<text x=\"\(x)\" y=\"\(tableTop + 12)\" font-weight=\"bold\" text-anchor=\"\(anchor)\">\(name)</text>"
        }
        svg += "\n"
        for (row, n) in nodes.enumerated() {
            let y = tableTop + Double(row + 2) * 18 - 6
            let cells = [n.graph + "/" + n.node, n.op, n.backend, String(format: "%.0f", Double(n.calls) * perRun),
                         ms(n.totalMs * perRun), String(format: "%.1f", n.percentOfRun)]
            for (i, (_, x, anchor)) in columns.enumerated() {
                svg += "<text x=\"\(x)\" y=\"\(y)\" text-anchor=\"\(anchor)\">\(esc(cells[i]))</text>"
            }
            svg += "\n"
        }
        svg += "</svg>\n"
        return svg
    }
}
