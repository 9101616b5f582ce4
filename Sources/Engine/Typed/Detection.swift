import Foundation
import Formats

/// The detection ops with TensorFlow's CPU-kernel semantics (docs/FORMAT.md §4.1.3): non-max suppression
/// (V2–V5: candidates need score > threshold, suppression needs IoU > threshold, ties to the lower
/// index, corners canonicalised, zero-area boxes never suppress, soft-NMS), combined NMS, crop_and_resize.
enum DetectionKernels {
    /// IoU of boxes i and j of `b` (4 floats each, y1 x1 y2 x2 in any corner order); 0 when either has no area.
    static func iou(_ b: [Float], _ i: Int, _ j: Int) -> Float {
        let ay1 = min(b[4 * i], b[4 * i + 2]), ay2 = max(b[4 * i], b[4 * i + 2])
        let ax1 = min(b[4 * i + 1], b[4 * i + 3]), ax2 = max(b[4 * i + 1], b[4 * i + 3])
        let by1 = min(b[4 * j], b[4 * j + 2]), by2 = max(b[4 * j], b[4 * j + 2])
        let bx1 = min(b[4 * j + 1], b[4 * j + 3]), bx2 = max(b[4 * j + 1], b[4 * j + 3])
        let areaA = (ay2 - ay1) * (ax2 - ax1), areaB = (by2 - by1) * (bx2 - bx1)
        guard areaA > 0, areaB > 0 else { return 0 }
        let ih = max(min(ay2, by2) - max(ay1, by1), 0), iw = max(min(ax2, bx2) - max(ax1, bx1), 0)
        let inter = ih * iw
        return inter / (areaA + areaB - inter)
    }

    /// Greedy NMS over `count` boxes of `boxes` (at `offset` boxes in) with `scores`; returns the selected
    /// box numbers (relative to `offset`) and their (possibly decayed) scores, in selection order.
    static func suppress(_ boxes: [Float], _ scores: [Float], maxOutput: Int, iouThreshold: Float, scoreThreshold: Float,
                         softSigma: Float = 0) -> (indices: [Int], scores: [Float]) {
        struct Candidate { var index: Int; var score: Float; var begin: Int }
        // Highest score first; equal scores: the lower index first.
        func before(_ a: Candidate, _ b: Candidate) -> Bool { a.score > b.score || (a.score == b.score && a.index < b.index) }
        var queue = scores.indices.filter { scores[$0] > scoreThreshold }.map { Candidate(index: $0, score: scores[$0], begin: 0) }
        queue.sort(by: before)
        let scale: Float = softSigma > 0 ? -0.5 / softSigma : 0
        var selected: [Int] = [], selectedScores: [Float] = []
        while selected.count < maxOutput, !queue.isEmpty {
            var c = queue.removeFirst()
            let original = c.score
            var hard = false
            var j = selected.count - 1
            while j >= c.begin {
                let sim = iou(boxes, c.index, selected[j])
                if softSigma > 0 {
                    c.score *= exp(scale * sim * sim)
                    if c.score <= scoreThreshold { break }
                } else if sim > iouThreshold {
                    hard = true
                    break
                }
                j -= 1
            }
            c.begin = selected.count
            if hard { continue }
            if c.score == original {
                selected.append(c.index)
                selectedScores.append(c.score)
            } else if c.score > scoreThreshold {
                let at = queue.firstIndex { before(c, $0) } ?? queue.count
                queue.insert(c, at: at)
            }
        }
        return (selected, selectedScores)
    }

    static func nonMaxSuppression(_ boxes: TypedTensor, _ scores: TypedTensor, maxOutput: Int, iouThreshold: Float, scoreThreshold: Float,
                                  softSigma: Float, pad: Bool) throws -> [TypedTensor] {
        guard case .float32(let b) = boxes.storage, case .float32(let s) = scores.storage, boxes.shape.count == 2, boxes.shape[1] == 4,
              scores.shape == [boxes.shape[0]] else {
            throw EngineError("non_max_suppression takes float32 boxes [n, 4] and scores [n], got \(boxes) and \(scores)")
        }
        guard (0...1).contains(iouThreshold) else { throw EngineError("non_max_suppression: iou_threshold \(iouThreshold) must be in [0, 1]") }
        guard softSigma >= 0 else { throw EngineError("non_max_suppression: soft_nms_sigma \(softSigma) must be ≥ 0") }
        var (idx, sc) = suppress(b, s, maxOutput: maxOutput, iouThreshold: iouThreshold, scoreThreshold: scoreThreshold, softSigma: softSigma)
        let valid = idx.count
        if pad, idx.count < maxOutput {
            idx += Array(repeating: 0, count: maxOutput - idx.count)
            sc += Array(repeating: 0, count: maxOutput - sc.count)
        }
        return [TypedTensor(shape: [idx.count], int32: idx.map { Int32($0) }), TypedTensor(shape: [sc.count], floats: sc),
                TypedTensor(shape: [], int32: [Int32(valid)])]
    }

    /// TF CombinedNonMaxSuppression: per batch and class NMS, merged by score, clipped (output only), padded with zeros.
    static func combined(_ boxes: TypedTensor, _ scores: TypedTensor, maxPerClass: Int, maxTotal: Int, iouThreshold: Float,
                         scoreThreshold: Float, padPerClass: Bool, clip: Bool) throws -> [TypedTensor] {
        guard case .float32(let b) = boxes.storage, case .float32(let s) = scores.storage, boxes.shape.count == 4, scores.shape.count == 3,
              boxes.shape[0] == scores.shape[0], boxes.shape[1] == scores.shape[1], boxes.shape[3] == 4 else {
            throw EngineError("combined_non_max_suppression takes boxes [batch, n, q, 4] and scores [batch, n, classes], got \(boxes) and \(scores)")
        }
        let batch = boxes.shape[0], n = boxes.shape[1], q = boxes.shape[2], classes = scores.shape[2]
        guard q == 1 || q == classes else { throw EngineError("combined_non_max_suppression: boxes have q = \(q), expected 1 or \(classes) (the classes)") }
        guard maxPerClass > 0, maxTotal > 0 else { throw EngineError("combined_non_max_suppression: max sizes must be > 0") }
        let perClass = min(maxPerClass, n)
        let length = padPerClass ? min(maxTotal, maxPerClass * classes) : maxTotal
        var outBoxes = [Float](repeating: 0, count: batch * length * 4), outScores = [Float](repeating: 0, count: batch * length)
        var outClasses = [Float](repeating: 0, count: batch * length), valid = [Int32](repeating: 0, count: batch)
        for bi in 0..<batch {
            var found: [(score: Float, cls: Int, box: [Float])] = []
            for c in 0..<classes {
                let qc = q == 1 ? 0 : c
                var cb = [Float](), cs = [Float]()
                for i in 0..<n {
                    let at = ((bi * n + i) * q + qc) * 4
                    cb += b[at..<(at + 4)]
                    cs.append(s[(bi * n + i) * classes + c])
                }
                let (sel, selScores) = suppress(cb, cs, maxOutput: perClass, iouThreshold: iouThreshold, scoreThreshold: scoreThreshold)
                for (i, sc) in zip(sel, selScores) { found.append((sc, c, Array(cb[(4 * i)..<(4 * i + 4)]))) }
            }
            found.sort { $0.score > $1.score }
            let kept = found.prefix(length)
            valid[bi] = Int32(min(found.count, length))
            for (k, f) in kept.enumerated() {
                for j in 0..<4 { outBoxes[(bi * length + k) * 4 + j] = clip ? min(max(f.box[j], 0), 1) : f.box[j] }
                outScores[bi * length + k] = f.score
                outClasses[bi * length + k] = Float(f.cls)
            }
        }
        return [TypedTensor(shape: [batch, length, 4], floats: outBoxes), TypedTensor(shape: [batch, length], floats: outScores),
                TypedTensor(shape: [batch, length], floats: outClasses), TypedTensor(shape: [batch], int32: valid)]
    }

    /// TF CropAndResize: each box (normalised y1 x1 y2 x2 of image `index`) sampled on a crop_h × crop_w grid;
    /// samples outside the image take `extrapolation`.
    static func cropAndResize(_ image: TypedTensor, _ boxes: TypedTensor, _ indices: TypedTensor, cropSize: [Int], nearest: Bool,
                              extrapolation: Float) throws -> TypedTensor {
        guard case .float32(let img) = image.storage, case .float32(let bx) = boxes.storage, image.shape.count == 4 else {
            throw EngineError("crop_and_resize takes a float32 image [batch, h, w, c] and float32 boxes")
        }
        let (batch, h, w, ch) = (image.shape[0], image.shape[1], image.shape[2], image.shape[3])
        let idx = indices.ints, nBoxes = boxes.shape[0], (ch2, cw) = (cropSize[0], cropSize[1])
        guard idx.count == nBoxes else { throw EngineError("crop_and_resize: \(idx.count) box indices for \(nBoxes) boxes") }
        var out = [Float](repeating: extrapolation, count: nBoxes * ch2 * cw * ch)
        for bi in 0..<nBoxes {
            let b = try TypedIndexing.checkIndex(idx[bi], batch, "crop_and_resize box")
            let y1 = bx[4 * bi], x1 = bx[4 * bi + 1], y2 = bx[4 * bi + 2], x2 = bx[4 * bi + 3]
            let hs: Float = ch2 > 1 ? (y2 - y1) * Float(h - 1) / Float(ch2 - 1) : 0
            let ws: Float = cw > 1 ? (x2 - x1) * Float(w - 1) / Float(cw - 1) : 0
            for y in 0..<ch2 {
                let inY = ch2 > 1 ? y1 * Float(h - 1) + Float(y) * hs : 0.5 * (y1 + y2) * Float(h - 1)
                if inY < 0 || inY > Float(h - 1) { continue }
                for x in 0..<cw {
                    let inX = cw > 1 ? x1 * Float(w - 1) + Float(x) * ws : 0.5 * (x1 + x2) * Float(w - 1)
                    if inX < 0 || inX > Float(w - 1) { continue }
                    let o = ((bi * ch2 + y) * cw + x) * ch
                    func px(_ yy: Int, _ xx: Int, _ c: Int) -> Float { img[((b * h + yy) * w + xx) * ch + c] }
                    if nearest {
                        let yy = Int(inY.rounded()), xx = Int(inX.rounded())
                        for c in 0..<ch { out[o + c] = px(yy, xx, c) }
                    } else {
                        let top = Int(inY.rounded(.down)), bottom = Int(inY.rounded(.up)), yl = inY - Float(top)
                        let left = Int(inX.rounded(.down)), right = Int(inX.rounded(.up)), xl = inX - Float(left)
                        for c in 0..<ch {
                            let t = px(top, left, c) + (px(top, right, c) - px(top, left, c)) * xl
                            let btm = px(bottom, left, c) + (px(bottom, right, c) - px(bottom, left, c)) * xl
                            out[o + c] = t + (btm - t) * yl
                        }
                    }
                }
            }
        }
        return TypedTensor(shape: [nBoxes, ch2, cw, ch], floats: out)
    }
}
