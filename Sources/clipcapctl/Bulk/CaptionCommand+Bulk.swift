import ArgumentParser
import BulkCaption
import ClipCap
import Foundation
import ModelConverter

extension CaptionCommand {
    /// The decoding options the flags ask for.
    var decodingOptions: DecodingOptions {
        var decoding = DecodingOptions()
        switch decode {
        case "beam": decoding.strategy = .beam(width: beamWidth)
        case "sample": decoding.strategy = .sample
        default: decoding.strategy = .greedy
        }
        decoding.numCandidates = candidates
        decoding.topP = topP ?? 1
        decoding.topK = topK ?? 0
        decoding.temperature = temperature ?? 1
        decoding.seed = seed ?? 0
        decoding.maxTokens = maxTokens
        return decoding
    }

    /// The load options the flags ask for, with `threads` threads per model and `batchSize`
    /// images batched (nil: `--batch`, else the default); the KV cache gets a row per candidate.
    func loadOptions(threads: Int, batchSize: Int? = nil) -> LoadOptions {
        let rowsPerImage = decode == "beam" ? beamWidth : (decode == "sample" ? candidates : 1)
        let images = batchSize ?? batch ?? LoadOptions.defaultBatchSize
        var options = LoadOptions(backend: backend, threads: threads, verifyChecksums: checksums.verify,
                                  maxBatch: max(rowsPerImage, 1), maxTokens: maxTokens, batchSize: images)
        options.batchRows = images * rowsPerImage
        options.residency = memory.residency
        if let maxPixels { options.imageLimits.maxPixels = maxPixels }
        return options
    }

    /// Threads when `--threads` is not given: the container's CPU quota, else every core.
    var defaultThreads: Int { CPUQuota.availableCPUs() }

    /// The bulk path (docs/SCALE.md): manifests, tars, lists, stdin, shards, output files.
    func runBulk() throws {
        let inputs: BulkInputs
        do {
            inputs = try BulkInputs(arguments: images, columns: ManifestColumns(path: bulk.pathColumn, key: bulk.keyColumn),
                                    maxMemberBytes: bulk.maxMemberBytes)
        } catch { throw permanent("\(error)") }
        if !bulk.quiet || verbose { reportUnsupported(inputs.unsupported, verbose: verbose) }
        let selection: ShardSelection
        do { selection = try bulk.selection() } catch { throw permanent("\(error)") }
        if inputs.sources.isEmpty { throw permanent("no .jpg/.jpeg/.png images found in \(images.joined(separator: ", "))") }

        let modelHash: String
        do { modelHash = try SHA256.hex(fileAt: model) } catch { throw permanent("\(model): cannot read the model file (\(error))") }
        let settings = runSettings(selection: selection)
        let format = bulk.format ?? (json || bulk.out != nil ? .jsonl : .text)
        let sink: RecordSink
        if let folder = bulk.out {
            let fingerprint = SHA256.hex(Array(RecordFormat.json(["model_sha256": modelHash, "settings": settings, "inputs": images, "identity": inputs.identity]).utf8))
            let journal = ShardJournal(folder: folder, shard: selection.index, fingerprint: fingerprint, checkpointEvery: bulk.checkpointEvery)
            do { try journal.lock() } catch {
                printError("Error: \(error)")
                throw ExitCode(CaptionExit.retryable)
            }
            if journal.isComplete && !bulk.overwrite {
                journal.unlock()
                return try skipCompletedShard(journal)
            }
            sink = try ShardSink(journal: journal, overwrite: bulk.overwrite)
        } else {
            sink = try StreamSink(format: format, path: bulk.output, candidates: candidates)
        }

        let loaded: CaptionModel
        // One image at a time unless --batch is given: batched scores can differ in their last
        // digits with the batch's composition, and shards and resumed runs must write exactly
        // the bytes an uninterrupted run writes (docs/SCALE.md).
        let bulkBatch = batch ?? 1
        do { loaded = try ModelLoading.load(model, options: loadOptions(threads: threads == nil ? defaultThreads : ThreadCount.resolve(threads), batchSize: bulkBatch)) } catch {
            throw permanent("\(error)")
        }
        if verbose { ModelLoading.reportKernels(loaded) }
        let progress = ProgressLine(total: inputs.count(in: selection).map { max(0, $0 - sink.counts.total) } ?? 0,
                                    label: selection.count > 1 ? "shard \(selection.index)" : "captioning",
                                    enabled: stderrIsTerminal && !bulk.quiet)
        // The plain text format has no error lines, so its errors stay on stderr even with --quiet.
        let quiet = bulk.quiet && format != .text
        let started = Date()
        try BulkRunner.run(model: loaded, items: inputs.items(of: selection, skipping: sink.counts.total), options: decodingOptions,
                           batchSize: bulkBatch) { record in
            try sink.write(record)
            if let error = record.error, !quiet { progress.pause { printError("error: " + error) } }
            progress.advance()
        }
        progress.finish()
        let counts = sink.counts
        let seconds = sink.seconds ?? Date().timeIntervalSince(started)
        var stats: [String: Any] = [
            "shard": selection.index, "shards": selection.count, "inputs": counts.total, "captioned": counts.ok, "failed": counts.failed,
            "failures": counts.failures.map { ["key": $0.key, "file": $0.file, "error": $0.error] },
            "seconds": seconds, "images_per_second": seconds > 0 ? Double(counts.total) / seconds : 0,
            "model": ["path": model, "sha256": modelHash, "bytes": (try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? 0],
            "options": settings, "engine_version": clipcapVersion, "backend": loaded.backend.name,
            "finished_at": ISO8601DateFormatter().string(from: Date()),
        ]
        if let resumed = sink.resumedFrom, resumed > 0 { stats["resumed_after"] = resumed }
        try sink.finish(stats: stats)
        if counts.failed > 0 {
            if !quiet { printError("\(counts.failed) of \(counts.total) images could not be captioned (their lines say why); exit status \(CaptionExit.someImagesFailed)") }
            throw ExitCode(CaptionExit.someImagesFailed)
        }
    }

    /// A shard that is already done: say so and exit as it did (0, or 3 when images failed).
    private func skipCompletedShard(_ journal: ShardJournal) throws {
        let stats = FileManager.default.contents(atPath: journal.statsPath)
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let failed = stats?["failed"] as? Int ?? 0
        if !bulk.quiet { printError("shard \(journal.shard): already done (\(journal.statsPath) exists); skipped (--overwrite redoes it)") }
        if failed > 0 { throw ExitCode(CaptionExit.someImagesFailed) }
    }

    /// What decides the captions, for the stats file and the resume fingerprint.
    private func runSettings(selection: ShardSelection) -> [String: Any] {
        ["decode": decode, "beams": beamWidth, "num": candidates, "top_p": topP ?? 1, "top_k": topK ?? 0, "temperature": temperature ?? 1,
         "seed": Int(truncatingIfNeeded: seed ?? 0), "max_tokens": maxTokens, "backend": backend, "shards": selection.count, "shard": selection.index,
         "path_column": bulk.pathColumn ?? "", "key_column": bulk.keyColumn ?? "", "max_member_bytes": bulk.maxMemberBytes]
    }

    /// Prints the message and makes the exit status the permanent-failure one.
    private func permanent(_ message: String) -> ExitCode {
        printError("Error: " + message)
        return ExitCode(CaptionExit.permanent)
    }
}

/// The engine's version in stats files.
let clipcapVersion = "clipcap 0.1.0"
