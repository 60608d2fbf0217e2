import ArgumentParser
import CCMFormat
import Engine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `clipcapctl format-bench`: sizes and speeds of the `.ccm` encodings on weight-like data.
/// Prints figures; asserts nothing. Results are recorded in docs/FORMAT-BENCHMARKS.md.
struct FormatBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "format-bench",
        abstract: "Benchmark .ccm encodings (raw, zstd, shuffle+zstd) on ~500 MB of fp32 and int8 weights.",
        discussion: """
            Writes fp32 weights drawn from N(0, 0.02²) (768×3072 matrices) and their per-row int8 \
            quantization in each encoding, then measures write (compression) speed, stored size, \
            open time and first-tensor / all-tensor access time with a cold and a warm page cache.
            """)

    @Option(name: .long, help: "Approximate fp32 payload in MB.")
    var sizeMB = 500

    @Option(name: .long, help: "zstd compression level.")
    var level: Int32 = 3

    @Option(name: .long, help: "Folder for the temporary files (default: the system temporary folder).")
    var folder: String?

    @Flag(name: .long, help: "Keep the written files.")
    var keep = false

    func run() throws {
        let rows = 768, cols = 3072
        let count = max(1, sizeMB * 1_000_000 / (rows * cols * 4))
        let dir = folder ?? NSTemporaryDirectory() + "/ccm-format-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if !keep && folder == nil { try? FileManager.default.removeItem(atPath: dir) } }

        print("generating \(count) fp32 matrices \(rows)x\(cols) ~ N(0, 0.02) and their int8 per-row quantization...")
        var fp32: [[UInt8]] = [], int8: [[UInt8]] = [], scales: [[UInt8]] = []
        for i in 0..<count {
            let w = normalWeights(count: rows * cols, std: 0.02, seed: UInt64(i) + 1)
            let (q, s) = quantizePerRow(w, rows: rows, cols: cols)
            fp32.append(w.withUnsafeBytes { Array($0) })
            int8.append(q)
            scales.append(s.withUnsafeBytes { Array($0) })
        }
        let fp32Bytes = fp32.reduce(0) { $0 + $1.count }, int8Bytes = int8.reduce(0) { $0 + $1.count } + scales.reduce(0) { $0 + $1.count }
        print(String(format: "fp32 payload %.1f MB, int8 payload %.1f MB, zstd level %d, cores %d\n",
                     mb(fp32Bytes), mb(int8Bytes), level, ProcessInfo.processInfo.activeProcessorCount))

        print("| weights | encoding | stored MB | stored/raw | write s (cpu s) | write MB/s (per cpu s) | open ms (cold) | first tensor ms (cold) | all tensors s (cold, cpu s) | first tensor ms (warm, best of 5, cpu ms) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        var rawVerifyFile = ""
        for kind in ["fp32", "int8"] {
            var rawSize = 0
            for encoding in TensorEncoding.allCases {
                var writer = ModelWriter(metadata: Metadata([("quantization.scheme", .string(kind == "fp32" ? "none" : "per_channel"))]),
                                         graphs: [], tokenizer: nil)
                writer.compressionLevel = level
                for i in 0..<count {
                    if kind == "fp32" {
                        let data = fp32[i]
                        writer.add(TensorSource(name: "w\(i)", dtype: .f32, shape: [rows, cols], encoding: encoding, provider: { data }))
                    } else {
                        let q = int8[i], s = scales[i]
                        writer.add(TensorSource(name: "w\(i).scales", dtype: .f32, shape: [rows], encoding: encoding, provider: { s }))
                        writer.add(TensorSource(name: "w\(i)", dtype: .i8, shape: [rows, cols], encoding: encoding,
                                                quantization: QuantizationInfo(scheme: "per_channel", scalesTensor: "w\(i).scales"),
                                                provider: { q }))
                    }
                }
                let path = "\(dir)/\(kind)-\(encoding.rawValue).ccm"
                let writeTime = try seconds { try writer.write(to: path) }
                let writeCPU = CPUClock.last
                let size = try fileSize(path)
                if encoding == .raw { rawSize = size }
                if encoding == .raw && kind == "fp32" { rawVerifyFile = path }
                let payload = kind == "fp32" ? fp32Bytes : int8Bytes

                evict(path)
                var model: ModelFile?
                let openTime = try seconds { model = try ModelFile.open(path: path) }
                guard let file = model else { return }
                let first = file.tensor(named: "w0")!
                let firstCold = try seconds { touch(try file.bytes(of: first)) }
                let allCold = try seconds { for t in file.tensors { touch(try file.bytes(of: t)) } }
                let allCPU = CPUClock.last
                // Fresh ModelFiles on a warm cache: decoding is paid again, disk reads are not. Best of 5.
                var firstWarm = Double.infinity, firstWarmCPU = Double.infinity
                for _ in 0..<5 {
                    let warm = try ModelFile.open(path: path)
                    firstWarm = min(firstWarm, try seconds { touch(try warm.bytes(of: warm.tensor(named: "w0")!)) })
                    firstWarmCPU = min(firstWarmCPU, CPUClock.last)
                }
                print(String(format: "| %@ | %@ | %.1f | %.3f | %.2f (%.2f) | %.0f (%.0f) | %.2f | %.2f | %.2f (%.2f) | %.2f (%.2f) |",
                             kind, encoding.description, mb(size), Double(size) / Double(rawSize), writeTime, writeCPU,
                             mb(payload) / writeTime, mb(payload) / writeCPU,
                             openTime * 1000, firstCold * 1000, allCold, allCPU, firstWarm * 1000, firstWarmCPU * 1000))
            }
        }
        if !rawVerifyFile.isEmpty {
            let file = try ModelFile.open(path: rawVerifyFile)
            var problems: [VerifyProblem] = []
            let t = try seconds { problems = file.verify() }
            print(String(format: "\nverify (CRC32C of every tensor, warm cache) on the raw fp32 file: %.2f s (cpu %.2f s), %.0f MB/s (%.0f MB per cpu s), %d problems",
                         t, CPUClock.last, mb(file.fileSize) / t, mb(file.fileSize) / CPUClock.last, problems.count))
        }
        // CRC32C alone, in memory (best of 5).
        let block = fp32[0] + fp32[min(1, count - 1)]
        var crcBest = Double.infinity, crcCPU = Double.infinity
        for _ in 0..<5 {
            crcBest = min(crcBest, try seconds { if CRC32C.checksum(block) == 1 { print("") } })
            crcCPU = min(crcCPU, CPUClock.last)
        }
        print(String(format: "CRC32C (slicing-by-8, Swift) in memory: %.0f MB/s (%.0f MB per cpu s)", mb(block.count) / crcBest, mb(block.count) / crcCPU))
        if keep || folder != nil { print("files kept in \(dir)") }
    }

    private func mb(_ bytes: Int) -> Double { Double(bytes) / 1_000_000 }

    /// Wall-clock seconds of `body`; also accumulates its process CPU seconds into `lastCPU`.
    private func seconds(_ body: () throws -> Void) throws -> Double {
        let cpu0 = cpuSeconds()
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        CPUClock.last = cpuSeconds() - cpu0
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// CPU time of this process: on a shared machine it measures the work, wall time the wait too.
    private func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Drops the file's (clean) pages from the page cache so the next read comes from disk.
    private func evict(_ path: String) {
        #if canImport(Glibc)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
        #endif
    }

    /// Reads one byte per 4 KiB page so every page is faulted in.
    private func touch(_ bytes: UnsafeRawBufferPointer) {
        var sum: UInt8 = 0
        var i = 0
        while i < bytes.count { sum &+= bytes[i]; i += 4096 }
        if sum == 0x5A && bytes.count == 1 { print("") }   // keeps the loop from being optimised away
    }

    /// Normally distributed floats (Box–Muller over SplitMix64), deterministic per seed.
    private func normalWeights(count: Int, std: Float, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15)
        func next() -> UInt64 { rng.next() }
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let u1 = max(Float(next() >> 40) / Float(1 << 24), 1e-7), u2 = Float(next() >> 40) / Float(1 << 24)
            let r = (-2 * log(u1)).squareRoot() * std
            out[i] = r * cos(2 * .pi * u2)
            if i + 1 < count { out[i + 1] = r * sin(2 * .pi * u2) }
            i += 2
        }
        return out
    }

    /// Symmetric per-row int8: scale = max|w| / 127.
    private func quantizePerRow(_ w: [Float], rows: Int, cols: Int) -> ([UInt8], [Float]) {
        var q = [UInt8](repeating: 0, count: rows * cols)
        var s = [Float](repeating: 1, count: rows)
        for r in 0..<rows {
            var m: Float = 0
            for c in 0..<cols { m = max(m, abs(w[r * cols + c])) }
            let scale = m > 0 ? m / 127 : 1
            s[r] = scale
            for c in 0..<cols {
                q[r * cols + c] = UInt8(bitPattern: Int8(max(-127, min(127, (w[r * cols + c] / scale).rounded()))))
            }
        }
        return (q, s)
    }
}

/// The CPU seconds of the last `seconds { }` measurement (the command runs on one thread).
private enum CPUClock {
    nonisolated(unsafe) static var last: Double = 0
}
