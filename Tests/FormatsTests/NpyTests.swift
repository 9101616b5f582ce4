import Foundation
import Testing
@testable import Formats
@testable import Importers
import TestSupport

@Suite struct NpyTests {
    @Test(arguments: [DType.float32, .float16, .float64, .int32, .int64, .uint8, .bool])
    func roundTripsEveryDType(dtype: DType) throws {
        let shape = [2, 3]
        let data = (0..<(6 * dtype.size!)).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
        let fixed = dtype == .bool ? data.map { $0 & 1 } : data
        let a = NpyArray(dtype: dtype, shape: shape, data: fixed)
        let bytes = try a.serialized()
        #expect(bytes.count % 64 == 0 || (bytes.count - fixed.count) % 64 == 0)
        #expect(try NpyArray(bytes: bytes) == a)
    }

    @Test func scalarsAndOneDimensionalShapes() throws {
        for shape in [[], [5], [0], [1, 1, 1, 1]] {
            let n = shape.reduce(1, *)
            let a = NpyArray(floats: (0..<n).map(Float.init), shape: shape)
            #expect(try NpyArray(bytes: try a.serialized()) == a)
        }
    }

    /// Files written by NumPy itself (fixtures/npy, made by fixtures/make_npy_fixtures.py).
    @Test(arguments: ["arange_f4_v1", "arange_f8_v1", "arange_i8_v1", "arange_f2_v1", "arange_f4_v2", "arange_f4_v3", "arange_be_f4", "bool_b1"])
    func readsFilesWrittenByNumPy(name: String) throws {
        let a = try NpyArray(path: packageRoot + "/fixtures/npy/\(name).npy")
        #expect(a.shape == [2, 3])
        if name == "bool_b1" {
            #expect(a.dtype == .bool)
            #expect(a.floats == [0, 1, 0, 1, 0, 1])
        } else if name == "arange_i8_v1" {
            #expect(a.dtype == .int64)
            #expect(a.floats == [0, 1, 2, 3, 4, 5])
        } else {
            #expect(a.floats == [0, 1, 2, 3, 4, 5].map { Float($0) * 0.5 })
        }
    }

    @Test func refusesFortranOrderAndObjectArrays() throws {
        expectFormatsError(.npyUnsupported, "Fortran order") { try NpyArray(path: packageRoot + "/fixtures/npy/fortran_f4.npy") }
        expectFormatsError(.npyUnsupported, "object arrays") { try NpyArray(path: packageRoot + "/fixtures/npy/object.npy") }
        expectFormatsError(.npyUnsupported, "'<U3'") { try NpyArray(path: packageRoot + "/fixtures/npy/unicode.npy") }
    }

    @Test func refusesMalformedFiles() throws {
        let good = try NpyArray(floats: [1, 2, 3], shape: [3]).serialized()
        expectFormatsError(.npyInvalid, "not a .npy file") { try NpyArray(bytes: Array("hello world".utf8)) }
        expectFormatsError(.npyInvalid, "data is 8 bytes, expected 12") { try NpyArray(bytes: Array(good.dropLast(4))) }
        var v9 = good
        v9[6] = 9
        expectFormatsError(.npyUnsupported, "version 9.0") { try NpyArray(bytes: v9) }
        var huge = good
        huge[8] = 0xFF; huge[9] = 0xFF
        expectFormatsError(.npyInvalid, "runs past the end") { try NpyArray(bytes: huge) }
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"
        var absurd = NpyArray.magic + [1, 0, UInt8(header.utf8.count), 0]
        absurd += Array(header.utf8)
        expectFormatsError(.npyInvalid, "absurd") { try NpyArray(bytes: absurd) }
    }
}
