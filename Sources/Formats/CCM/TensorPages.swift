/// The whole pages of a model file's memory map that hold a set of tensors' stored bytes.
///
/// Low-memory runs release a phase's weights once the phase is done
/// (`ModelFile.release(_:)`): the pages stay in the OS page cache and are mapped again by the
/// next read, so the process's peak resident set follows the largest phase, not the whole file.
public struct TensorPages: Sendable {
    /// Sorted, disjoint, page-aligned byte ranges of the map.
    public let ranges: [Range<Int>]
    /// Bytes covered.
    public var byteCount: Int { ranges.reduce(0) { $0 + $1.count } }

    /// The same pages cut into `parts` pieces of about equal size (whole pages), so that
    /// several threads can map them at once.
    public func split(into parts: Int) -> [TensorPages] {
        let parts = max(1, parts)
        let page = MemoryMap.pageSize
        let share = (byteCount / parts + page - 1) / page * page
        guard parts > 1, share > 0 else { return [self] }
        var out: [TensorPages] = []
        var current: [Range<Int>] = []
        var filled = 0
        for range in ranges {
            var start = range.lowerBound
            while start < range.upperBound {
                let take = min(range.upperBound - start, share - filled)
                current.append(start..<(start + take))
                filled += take
                start += take
                if filled == share {
                    out.append(TensorPages(ranges: current))
                    current = []
                    filled = 0
                }
            }
        }
        if !current.isEmpty { out.append(TensorPages(ranges: current)) }
        return out
    }
}

extension ModelFile {
    /// The pages that hold only tensors named in `names` that are not in `keeping`: ranges are
    /// rounded inwards to whole pages, so a page shared with another tensor is never included.
    /// Unknown names are ignored.
    public func pages(ofTensors names: Set<String>, keeping: Set<String> = []) -> TensorPages {
        let page = MemoryMap.pageSize
        var spans: [Range<Int>] = []
        for name in names where !keeping.contains(name) {
            guard let entry = tensor(named: name), entry.storedLength > 0 else { continue }
            spans.append(entry.offset..<(entry.offset + entry.storedLength))
        }
        // Tensors written one after another (with alignment padding) merge into one span when
        // nothing kept sits between them.
        let kept = keeping.compactMap { tensor(named: $0) }.map { $0.offset..<($0.offset + $0.storedLength) }
        spans.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for span in spans {
            if let last = merged.last, span.lowerBound - last.upperBound < page,
               !kept.contains(where: { $0.overlaps(last.upperBound..<span.lowerBound) }) {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, span.upperBound)
            } else {
                merged.append(span)
            }
        }
        let aligned: [Range<Int>] = merged.compactMap { span in
            let lower = (span.lowerBound + page - 1) / page * page
            let upper = span.upperBound / page * page
            return lower < upper ? lower..<upper : nil
        }
        return TensorPages(ranges: aligned)
    }

    /// Drops this process's mappings of `pages` (see `TensorPages`); the next read of those
    /// tensors maps them again from the page cache. Decoded copies of compressed tensors are
    /// not affected.
    public func release(_ pages: TensorPages) {
        for range in pages.ranges { map.release(range) }
    }

    /// Maps `pages` again ahead of use, in one system call per range (Linux 5.14+; elsewhere the
    /// first reads fault them in as usual).
    public func populate(_ pages: TensorPages) {
        for range in pages.ranges { map.populate(range) }
    }
}
