import CSkiffKernels
import Foundation
import Formats

/// Convolutions as GEMM: a 1×1 stride-1 unpadded convolution is one SGEMM on the NHWC input as is;
/// others gather patches (im2col) into reused scratch memory, one image at a time, then one SGEMM with
/// the HWIO filter viewed as [kh·kw·cin, cout]. Bias and activation follow in one pass.
enum FastConvolution {
    static func conv2d(_ x: View, _ w: View, _ bias: View?, _ p: ConvParams, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int], _ scratch: Scratch) {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, cout) = (w.shape[0], w.shape[1], w.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let k = kh * kw * c
        let xp = x.data.baseAddress!, wp = w.data.baseAddress!, op = out.baseAddress!
        let pointwise = kh == 1 && kw == 1 && p.strides == [1, 1] && oh == h && ow == wd
        let b = bias?.data.baseAddress
        let clamp = Epilogue.clampRange(p.activation)
        var fused = false
        if pointwise {
            fused = gemmRows(m: n * h * wd, n: cout, k: c, a: xp, b: wp, c: op, bias: b, clamp: clamp)
        } else {
            let top = p.window(0, input: h, kernel: kh).padBefore, left = p.window(1, input: wd, kernel: kw).padBefore
            let rows = oh * ow
            let cols = scratch.take(rows * k)
            for img in 0..<n {
                let image = xp + img * h * wd * c
                FastKernels.parallel(oh, work: rows * k) { range in
                    for oy in range {
                        for ox in 0..<ow {
                            var dst = cols + (oy * ow + ox) * k
                            for ky in 0..<kh {
                                let iy = oy * p.strides[0] - top + ky * p.dilations[0]
                                for kx in 0..<kw {
                                    let ix = ox * p.strides[1] - left + kx * p.dilations[1]
                                    if iy < 0 || iy >= h || ix < 0 || ix >= wd {
                                        dst.update(repeating: 0, count: c)
                                    } else {
                                        dst.update(from: image + (iy * wd + ix) * c, count: c)
                                    }
                                    dst += c
                                }
                            }
                        }
                    }
                }
                fused = gemmRows(m: rows, n: cout, k: k, a: cols, b: wp, c: op + img * rows * cout, bias: b, clamp: clamp)
            }
        }
        // The micro-kernel added the bias and, for relu/relu6, the clamp; anything else runs here.
        Epilogue.apply(op, rows: n * oh * ow, channels: cout, bias: fused ? nil : bias,
                       activation: fused && clamp != nil ? nil : p.activation)
    }

    /// Whether the CPU runs the AVX2/FMA micro-kernels of `CSkiffKernels`.
    static let avx2 = skiff_has_avx2_fma() != 0
    /// Products with inner dimension up to `microKernelMaxK` and under `microKernelMaxWork` multiply-adds use
    /// the micro-kernel (no packing; bias and relu/relu6 fused); larger ones go to OpenBLAS, single-threaded
    /// inside the engine's own row or column blocks. Measured (ResNet50-224, 8 interleaved rounds): OpenBLAS's
    /// own threads 72.0 ms median vs 68.6 ms on the pool; everything through the micro-kernel 88–115 ms.
    /// MobileNetV2-160 through the micro-kernel: 20.6 → 9.0 ms when it was introduced.
    static let microKernelMaxK = 1024
    static let microKernelMaxWork = 1 << 25

    /// C = A·B on the engine's threads. When the micro-kernel runs it also adds `bias` and applies `clamp`
    /// (nil: none) and returns true; OpenBLAS leaves both to the caller and returns false.
    @discardableResult
    static func gemmRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                         bias: UnsafePointer<Float>? = nil, clamp: (Float, Float)? = nil) -> Bool {
        let (lo, hi) = clamp ?? (-.infinity, .infinity)
        // Without an installed BLAS (skiff-runtime) the micro-kernel takes every product.
        let micro = avx2 && (!BLAS.available || (k <= microKernelMaxK && m * n * k < microKernelMaxWork))
        let big = m * n * k >= FastKernels.parallelThreshold * 4
        // Few rows (the late layers and dense heads at batch 1): split the columns instead, in 16-wide strips.
        if big, m < 16 * FastKernels.threads, n >= 32 * FastKernels.threads {
            let strips = (n + 15) / 16, parts = FastKernels.threads
            let per = (strips + parts - 1) / parts * 16
            // One row (a dense layer at batch 1): a matrix-vector product streaming B's rows, BLAS or not.
            let vector = m == 1 && avx2
            FastKernels.parallel(parts, work: Int.max) { range in
                for i in range {
                    let j = i * per, cols = min(per, n - j)
                    guard cols > 0 else { continue }
                    if vector {
                        skiff_gemv_avx2(Int32(cols), Int32(k), a, b + j, Int32(n), c + j, bias.map { $0 + j }, lo, hi)
                    } else if micro {
                        skiff_gemm_avx2(Int32(m), Int32(cols), Int32(k), a, Int32(k), b + j, Int32(n), c + j, Int32(n), bias.map { $0 + j }, lo, hi)
                    } else {
                        BLAS.sgemm(m: m, n: cols, k: k, a: a, b: b + j, ldb: n, c: c + j, ldc: n)
                    }
                }
            }
            return micro || vector
        }
        let blocks = big ? min(FastKernels.threads, max(1, m / 16)) : 1
        let per = (m + blocks - 1) / blocks
        FastKernels.parallel(blocks, work: blocks == 1 ? 0 : Int.max) { range in
            for i in range {
                let first = i * per, rows = min(per, m - first)
                guard rows > 0 else { continue }
                if micro {
                    skiff_gemm_avx2(Int32(rows), Int32(n), Int32(k), a + first * k, Int32(k), b, Int32(n), c + first * n, Int32(n), bias, lo, hi)
                } else {
                    BLAS.sgemm(m: rows, n: n, k: k, a: a + first * k, b: b, c: c + first * n)
                }
            }
        }
        return micro
    }

    /// Depthwise with multiplier 1, one output row at a time: the row starts as the bias, then every
    /// in-bounds tap adds x·w over the channels, 8 at a time, for the pixels it reaches.
    static func depthwise(_ x: View, _ w: View, _ bias: View?, _ p: ConvParams, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw) = (w.shape[0], w.shape[1])
        let (oh, ow) = (outShape[1], outShape[2])
        let (sy, sx, dy, dx) = (p.strides[0], p.strides[1], p.dilations[0], p.dilations[1])
        let top = p.window(0, input: h, kernel: kh).padBefore, left = p.window(1, input: wd, kernel: kw).padBefore
        let xp = x.data.baseAddress!, wp = w.data.baseAddress!, op = out.baseAddress!, bp = bias?.data.baseAddress
        if avx2 {
            let clamp = Epilogue.clampRange(p.activation)
            let (lo, hi) = clamp ?? (-.infinity, .infinity)
            FastKernels.parallel(n * oh, work: n * oh * ow * c * kh * kw) { range in
                skiff_depthwise_avx2(xp, wp, bp, op, Int32(h), Int32(wd), Int32(c), Int32(kh), Int32(kw), Int32(oh), Int32(ow),
                                     Int32(sy), Int32(sx), Int32(dy), Int32(dx), Int32(top), Int32(left), Int32(range.lowerBound), Int32(range.upperBound), lo, hi)
                if clamp == nil, let a = p.activation {
                    Epilogue.activate(op + range.lowerBound * ow * c, into: op + range.lowerBound * ow * c, count: range.count * ow * c, a)
                }
            }
            return
        }
        let c8 = c / 8 * 8
        FastKernels.parallel(n * oh, work: n * oh * ow * c * kh * kw) { range in
            for row in range {
                let b = row / oh, oy = row % oh
                let o = op + row * ow * c
                for ox in 0..<ow {
                    if let bp { (o + ox * c).update(from: bp, count: c) } else { (o + ox * c).update(repeating: 0, count: c) }
                }
                for ky in 0..<kh {
                    let iy = oy * sy - top + ky * dy
                    if iy < 0 || iy >= h { continue }
                    let inRow = xp + (b * h + iy) * wd * c
                    for kx in 0..<kw {
                        let shift = kx * dx - left
                        // Output columns whose input column ox·sx + shift lies in [0, wd).
                        let lo = shift >= 0 ? 0 : (-shift + sx - 1) / sx
                        let hi = min(ow - 1, (wd - 1 - shift) >= 0 ? (wd - 1 - shift) / sx : -1)
                        if lo > hi { continue }
                        let tap = UnsafeRawPointer(wp + (ky * kw + kx) * c)
                        for ox in lo...hi {
                            let src = UnsafeRawPointer(inRow + (ox * sx + shift) * c)
                            let dst = UnsafeMutableRawPointer(o + ox * c)
                            var ch = 0
                            while ch < c8 {
                                let off = ch * 4
                                let acc = dst.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
                                    + src.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self) * tap.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
                                dst.storeBytes(of: acc, toByteOffset: off, as: SIMD8<Float>.self)
                                ch += 8
                            }
                            while ch < c {
                                dst.storeBytes(of: dst.load(fromByteOffset: ch * 4, as: Float.self)
                                    + src.load(fromByteOffset: ch * 4, as: Float.self) * tap.load(fromByteOffset: ch * 4, as: Float.self),
                                    toByteOffset: ch * 4, as: Float.self)
                                ch += 1
                            }
                        }
                    }
                }
                if let a = p.activation { Epilogue.activate(o, into: o, count: ow * c, a) }
            }
        }
    }
}
