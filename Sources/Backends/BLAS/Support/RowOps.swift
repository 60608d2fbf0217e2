import Engine
import KernelSupport

/// Eight floats: the lanes of `RowOps`' plain SIMD loops (two SSE registers at the x86-64
/// baseline the package is compiled for; the transcendental loops are in `CVectorKernels`).
typealias F8 = SIMD8<Float>

/// Vectorised loops over contiguous float rows, eight lanes at a time with a zero-padded tail.
/// All of them are allocation-free and `@inline(__always)` so the loops vectorise in place.
/// Plain arithmetic only (the element-wise `add`, `mul` and copies): the package is compiled
/// without a target CPU, where `addingProduct` becomes a call to `fmaf` per lane, so loops with
/// multiply-adds, reductions or transcendental functions are in `CVectorKernels`, compiled per
/// CPU level.
enum RowOps {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> F8 {
        UnsafeRawPointer(p).loadUnaligned(as: F8.self)
    }

    @inline(__always) static func store(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
    }

    /// The first `count` (< 8) elements, the other lanes set to `fill`.
    @inline(__always) static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> F8 {
        var v = F8(repeating: fill)
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    @inline(__always) static func storePartial(_ v: F8, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { p[i] = v[i] }
    }

    /// `out[i] = f(x[i])` for `count` elements (in place allowed).
    @inline(__always) static func map(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int,
                                      _ f: (F8) -> F8) {
        var i = 0
        while i + 8 <= count {
            store(f(load(x + i)), out + i)
            i += 8
        }
        if i < count { storePartial(f(loadPartial(x + i, count - i)), out + i, count - i) }
    }

    /// `out[i] = f(a[i], b[i])` for `count` elements.
    @inline(__always) static func zip(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                      _ count: Int, _ f: (F8, F8) -> F8) {
        var i = 0
        while i + 8 <= count {
            store(f(load(a + i), load(b + i)), out + i)
            i += 8
        }
        if i < count {
            let r = count - i
            storePartial(f(loadPartial(a + i, r), loadPartial(b + i, r)), out + i, r)
        }
    }
}

/// When to spread element-wise work over the pool: below this many elements a pool round
/// (~11 µs) costs more than it saves.
enum Parallelism {
    static let minimumElements = 1 << 16

    /// Runs `body(range)` over `0..<rows` in one chunk per pool thread when the work is big
    /// enough, else on the caller in one piece.
    @inline(__always) static func rows(_ rows: Int, elementsPerRow: Int, _ pool: ThreadPool,
                                       _ body: (Range<Int>) -> Void) {
        let threads = pool.threads
        if threads <= 1 || rows < 2 || rows * elementsPerRow < minimumElements {
            body(0..<rows)
            return
        }
        let chunks = Swift.min(threads, rows)
        pool.parallelFor(chunks) { c in
            body((rows * c / chunks)..<(rows * (c + 1) / chunks))
        }
    }
}
