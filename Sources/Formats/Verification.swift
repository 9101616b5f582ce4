import Foundation

/// How one output compares with its expected values.
public struct OutputComparison: Hashable, Sendable, Codable {
    public struct Worst: Hashable, Sendable, Codable {
        public var index: [Int]
        public var expected: Float
        public var actual: Float
    }

    public var name: String
    public var shape: [Int]
    public var expectedShape: [Int]
    public var maxAbsError: Float
    /// Largest |actual − expected| / |expected| over elements with |expected| ≥ 1e-6.
    public var maxRelError: Float
    public var meanAbsError: Float
    public var cosine: Float
    /// Fraction of rows whose top-k classes agree (rank-2 outputs with more than one class), else nil.
    public var topKAgreement: Float?
    public var topK: Int?
    /// The element furthest outside the tolerance (or with the largest error when all pass).
    public var worst: Worst?
    /// Number of elements outside atol + rtol·|expected|.
    public var mismatches: Int
    public var passed: Bool

    enum CodingKeys: String, CodingKey {
        case name, shape, expectedShape = "expected_shape", maxAbsError = "max_abs_error", maxRelError = "max_rel_error"
        case meanAbsError = "mean_abs_error", cosine, topKAgreement = "top_k_agreement", topK = "top_k", worst, mismatches, passed
    }

    /// Compares element by element: an element passes when |a − e| ≤ atol + rtol·|e| (NaN never passes).
    /// Shapes must be equal first. `minTopK`, when set, also requires that top-k agreement.
    public static func compare(name: String, actual: [Float], shape: [Int], expected: [Float], expectedShape: [Int],
                               atol: Float, rtol: Float, topK: Int = 1, minTopKAgreement: Float? = nil) -> OutputComparison {
        guard shape == expectedShape, actual.count == expected.count else {
            return OutputComparison(name: name, shape: shape, expectedShape: expectedShape, maxAbsError: .infinity, maxRelError: .infinity,
                                    meanAbsError: .infinity, cosine: 0, topKAgreement: nil, topK: nil, worst: nil, mismatches: max(actual.count, expected.count), passed: false)
        }
        var maxAbs: Float = 0, maxRel: Float = 0, sumAbs: Double = 0, dot: Double = 0, na: Double = 0, ne: Double = 0
        var mismatches = 0
        var worstIndex = -1
        var worstExcess = -Float.infinity
        for i in actual.indices {
            let a = actual[i], e = expected[i]
            let err = abs(a - e)
            let excess = a.isNaN || e.isNaN ? Float.infinity : err - (atol + rtol * abs(e))
            if excess > 0 { mismatches += 1 }
            if excess > worstExcess { worstExcess = excess; worstIndex = i }
            if err.isNaN { maxAbs = .nan } else if !maxAbs.isNaN { maxAbs = max(maxAbs, err) }
            if abs(e) >= 1e-6 { maxRel = max(maxRel, err / abs(e)) }
            sumAbs += Double(err)
            dot += Double(a) * Double(e); na += Double(a) * Double(a); ne += Double(e) * Double(e)
        }
        let cosine: Float = na == 0 && ne == 0 ? 1 : Float(dot / max((na * ne).squareRoot(), .leastNonzeroMagnitude))
        var agreement: Float?
        if shape.count == 2, shape[1] > 1, shape[0] > 0 {
            let (rows, classes) = (shape[0], shape[1])
            let k = min(topK, classes)
            func top(_ v: ArraySlice<Float>) -> Set<Int> {
                Set(v.indices.sorted { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) }.prefix(k).map { $0 - v.startIndex })
            }
            let agree = (0..<rows).filter { r in top(actual[(r * classes)..<((r + 1) * classes)]) == top(expected[(r * classes)..<((r + 1) * classes)]) }.count
            agreement = Float(agree) / Float(rows)
        }
        var worst: Worst?
        if worstIndex >= 0 {
            worst = Worst(index: Self.unravel(worstIndex, shape), expected: expected[worstIndex], actual: actual[worstIndex])
        }
        let passed = mismatches == 0 && (minTopKAgreement.map { (agreement ?? 1) >= $0 } ?? true)
        return OutputComparison(name: name, shape: shape, expectedShape: expectedShape, maxAbsError: maxAbs, maxRelError: maxRel,
                                meanAbsError: actual.isEmpty ? 0 : Float(sumAbs / Double(actual.count)), cosine: cosine,
                                topKAgreement: agreement, topK: agreement == nil ? nil : min(topK, shape.last ?? 1),
                                worst: worst, mismatches: mismatches, passed: passed)
    }

    static func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
        var r = i
        var idx = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            idx[d] = r % shape[d]
            r /= shape[d]
        }
        return idx
    }
}

/// A verification result kept in the manifest (`verification`), shown by `skiff inspect`.
public struct VerificationRecord: Hashable, Sendable, Codable {
    /// "reference": against outputs the user supplied (from the source framework); "self-check": the
    /// written model against the unoptimised float32 graph on deterministic inputs.
    public var kind: String
    public var passed: Bool
    public var atol: Float
    public var rtol: Float
    /// SHA-256 of the inputs used (the .npy bytes or images), or a description of the generated inputs.
    public var inputs: String
    public var date: String
    public var skiffVersion: String
    public var precision: String
    public var outputs: [OutputComparison]

    enum CodingKeys: String, CodingKey {
        case kind, passed, atol, rtol, inputs, date, skiffVersion = "skiff_version", precision, outputs
    }

    public init(kind: String, passed: Bool, atol: Float, rtol: Float, inputs: String, precision: String, outputs: [OutputComparison],
                date: Date = Date()) {
        self.kind = kind
        self.passed = passed
        self.atol = atol
        self.rtol = rtol
        self.inputs = inputs
        self.date = date.formatted(.iso8601)
        self.skiffVersion = SkiffVersion.current
        self.precision = precision
        self.outputs = outputs
    }
}
