import Engine
import NaiveBackend

/// Vectorised loops over contiguous float rows, eight lanes at a time with a zero-padded tail.
/// All of them are allocation-free and `@inline(__always)` so the loops vectorise in place.
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

    /// Σ x[i]; two accumulators to hide the add latency.
    @inline(__always) static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = F8(), a1 = F8()
        var i = 0
        while i + 16 <= count {
            a0 += load(x + i)
            a1 += load(x + i + 8)
            i += 16
        }
        if i + 8 <= count { a0 += load(x + i); i += 8 }
        if i < count { a1 += loadPartial(x + i, count - i) }
        return (a0 + a1).sum()
    }

    /// Σ (x[i] - c)².
    @inline(__always) static func sumOfSquares(_ x: UnsafePointer<Float>, _ count: Int, centeredOn c: Float) -> Float {
        let cv = F8(repeating: c)
        var a0 = F8(), a1 = F8()
        var i = 0
        while i + 16 <= count {
            let d0 = load(x + i) - cv, d1 = load(x + i + 8) - cv
            a0 = a0.addingProduct(d0, d0)
            a1 = a1.addingProduct(d1, d1)
            i += 16
        }
        if i + 8 <= count { let d = load(x + i) - cv; a0 = a0.addingProduct(d, d); i += 8 }
        if i < count { let d = loadPartial(x + i, count - i, fill: c) - cv; a1 = a1.addingProduct(d, d) }
        return (a0 + a1).sum()
    }

    /// max x[i] (`-inf` for an empty row).
    @inline(__always) static func max(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m = F8(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            m = pointwiseMax(m, load(x + i))
            i += 8
        }
        if i < count { m = pointwiseMax(m, loadPartial(x + i, count - i, fill: -.infinity)) }
        return m.max()
    }

    /// Σ a[i]·b[i].
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var a0 = F8(), a1 = F8()
        var i = 0
        while i + 16 <= count {
            a0 = a0.addingProduct(load(a + i), load(b + i))
            a1 = a1.addingProduct(load(a + i + 8), load(b + i + 8))
            i += 16
        }
        if i + 8 <= count { a0 = a0.addingProduct(load(a + i), load(b + i)); i += 8 }
        if i < count { a1 = a1.addingProduct(loadPartial(a + i, count - i), loadPartial(b + i, count - i)) }
        return (a0 + a1).sum()
    }

    /// y[i] += alpha · x[i].
    @inline(__always) static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let av = F8(repeating: alpha)
        var i = 0
        while i + 8 <= count {
            store(load(y + i).addingProduct(av, load(x + i)), y + i)
            i += 8
        }
        while i < count {
            y[i] += alpha * x[i]
            i += 1
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
