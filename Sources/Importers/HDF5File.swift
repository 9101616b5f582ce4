import CHDF5
import Foundation
import Formats

/// A read-only HDF5 file through libhdf5: groups, string attributes and float datasets — what Keras
/// files need. HDF5's own error printing is silenced; failures become `FormatsError`s naming the path.
public final class HDF5File {
    public let path: String
    let id: hid_t

    public init(path: String) throws {
        HDF5File.silence()
        guard FileManager.default.fileExists(atPath: path) else { throw FormatsError(.io, "file not found", file: path) }
        guard H5Fis_hdf5(path) > 0 else {
            throw FormatsError(.io, "is not an HDF5 file (expected a Keras .h5 file)", file: path)
        }
        let f = H5Fopen(path, skiff_h5f_acc_rdonly(), skiff_h5p_default())
        guard f >= 0 else { throw FormatsError(.io, "libhdf5 cannot open the file (is it damaged or truncated?)", file: path) }
        id = f
        self.path = path
    }

    deinit { H5Fclose(id) }

    static func silence() { H5Eset_auto2(skiff_h5e_default(), nil, nil) }

    func fail(_ m: String) -> FormatsError { FormatsError(.io, m, file: path) }

    /// Whether an object (group or dataset) exists at `path` ("/a/b"), checking each level.
    public func exists(_ objectPath: String) -> Bool {
        var prefix = ""
        for part in objectPath.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(id, prefix, skiff_h5p_default()) <= 0 { return false }
        }
        return true
    }

    public func isGroup(_ objectPath: String) -> Bool {
        guard exists(objectPath) else { return false }
        var info = H5O_info_t()
        guard H5Oget_info_by_name1(id, objectPath, &info, skiff_h5p_default()) >= 0 else { return false }
        return info.type == H5O_TYPE_GROUP
    }

    /// Names of the members of a group, in HDF5's name order.
    public func children(_ groupPath: String) throws -> [String] {
        let g = H5Gopen2(id, groupPath, skiff_h5p_default())
        guard g >= 0 else { throw fail("has no group '\(groupPath)'") }
        defer { H5Gclose(g) }
        var info = H5G_info_t()
        H5Gget_info(g, &info)
        return (0..<info.nlinks).compactMap { i -> String? in
            let n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, skiff_h5p_default())
            guard n > 0 else { return nil }
            var buf = [CChar](repeating: 0, count: Int(n) + 1)
            H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, Int(n) + 1, skiff_h5p_default())
            return String(cString: buf)
        }
    }

    public func hasAttribute(_ objectPath: String, _ name: String) -> Bool {
        H5Aexists_by_name(id, objectPath, name, skiff_h5p_default()) > 0
    }

    /// A string attribute, or each element of a string-array attribute; fixed-length and variable-length
    /// strings both work. Keras splits long lists into `name0`, `name1`, …: those are concatenated.
    public func strings(_ objectPath: String, _ name: String) throws -> [String]? {
        if hasAttribute(objectPath, name) { return try readStrings(objectPath, name) }
        guard hasAttribute(objectPath, name + "0") else { return nil }
        var all: [String] = []
        var i = 0
        while hasAttribute(objectPath, "\(name)\(i)") {
            all += try readStrings(objectPath, "\(name)\(i)")
            i += 1
        }
        return all
    }

    public func string(_ objectPath: String, _ name: String) throws -> String? {
        try strings(objectPath, name)?.joined()
    }

    private func readStrings(_ objectPath: String, _ name: String) throws -> [String] {
        let attr = H5Aopen_by_name(id, objectPath, name, skiff_h5p_default(), skiff_h5p_default())
        guard attr >= 0 else { throw fail("cannot open attribute '\(name)' of '\(objectPath)'") }
        defer { H5Aclose(attr) }
        let type = H5Aget_type(attr)
        defer { H5Tclose(type) }
        let space = H5Aget_space(attr)
        defer { H5Sclose(space) }
        guard H5Tget_class(type) == H5T_STRING else { throw fail("attribute '\(name)' of '\(objectPath)' is not a string") }
        let count = Int(H5Sget_simple_extent_npoints(space))
        guard count >= 0, count < 10_000_000 else { throw fail("attribute '\(name)' of '\(objectPath)' has an absurd size") }
        if H5Tis_variable_str(type) > 0 {
            let mem = H5Tcopy(skiff_h5t_c_s1())
            defer { H5Tclose(mem) }
            H5Tset_size(mem, Int(bitPattern: UInt(bitPattern: -1)))  // H5T_VARIABLE
            H5Tset_cset(mem, H5Tget_cset(type))
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attr, mem, &ptrs) >= 0 else { throw fail("cannot read attribute '\(name)' of '\(objectPath)'") }
            defer { H5Dvlen_reclaim(mem, space, skiff_h5p_default(), &ptrs) }
            return ptrs.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        guard size > 0, size < 1 << 26 else { throw fail("attribute '\(name)' of '\(objectPath)' has an absurd string size") }
        var buf = [UInt8](repeating: 0, count: size * max(count, 1))
        guard H5Aread(attr, type, &buf) >= 0 else { throw fail("cannot read attribute '\(name)' of '\(objectPath)'") }
        return (0..<count).map { i in
            let slice = buf[(i * size)..<((i + 1) * size)]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
        }
    }

    /// A numeric dataset's shape and values converted to Float (float16/32/64 and integer datasets).
    public func floats(_ datasetPath: String) throws -> (shape: [Int], values: [Float]) {
        let d = H5Dopen2(id, datasetPath, skiff_h5p_default())
        guard d >= 0 else { throw fail("has no dataset '\(datasetPath)'") }
        defer { H5Dclose(d) }
        let type = H5Dget_type(d)
        defer { H5Tclose(type) }
        let cls = H5Tget_class(type)
        guard cls == H5T_FLOAT || cls == H5T_INTEGER else {
            throw fail("dataset '\(datasetPath)' is not numeric (HDF5 type class \(cls.rawValue)); expected float weights")
        }
        let space = H5Dget_space(d)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= 8 else { throw fail("dataset '\(datasetPath)' has rank \(rank), expected ≤ 8") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        let shape = dims.prefix(rank).map { Int($0) }
        var count = 1
        for s in shape {
            let (p, o) = count.multipliedReportingOverflow(by: s)
            guard !o, p <= 1 << 32 else { throw fail("dataset '\(datasetPath)' has an absurd shape \(shape)") }
            count = p
        }
        var values = [Float](repeating: 0, count: count)
        if count > 0 {
            // HDF5 converts any float or integer type to native float on read (float16 included).
            let status = values.withUnsafeMutableBytes { H5Dread(d, skiff_h5t_native_float(), skiff_h5s_all(), skiff_h5s_all(), skiff_h5p_default(), $0.baseAddress) }
            guard status >= 0 else { throw fail("cannot read dataset '\(datasetPath)' (damaged file?)") }
        }
        return (shape, values)
    }
}
