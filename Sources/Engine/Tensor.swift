import Formats

/// A dense float32 tensor, row-major; image tensors are NHWC.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor shape \(shape) does not match \(values.count) values")
        self.shape = shape
        self.values = values
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Converts any numeric `.npy` array to float32.
    public init(_ npy: NpyArray) {
        self.init(shape: npy.shape, values: npy.floats)
    }

    public var npy: NpyArray { NpyArray(floats: values, shape: shape) }
    public var count: Int { values.count }
}
