import Foundation

extension SkiffFile {
    /// Every structural rule of docs/FORMAT.md §3, §5 and §8, in the order the spec gives.
    static func validate(_ file: UnsafeRawBufferPointer) throws -> (SkiffHeader, SkiffManifest, [TensorEntry]) {
        let size = file.count
        guard size >= SkiffLayout.headerSize else {
            throw FormatsError(.fileTooSmall, "file is \(size) bytes, smaller than the 64-byte .skiff header (is it a .skiff file?)")
        }
        guard Array(file[0..<8]) == SkiffLayout.magic else {
            let got = Hex.string(file[0..<8], separator: " ")
            throw FormatsError(.badMagic, "not a .skiff file: magic is \(got), expected 89 53 4b 49 46 46 0d 0a")
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: file[0..<64]), position: 8)
        let major = try r.u16("major_version"), minor = try r.u16("minor_version"), flags = try r.u32("flags")
        guard SkiffLayout.readableMajorVersions.contains(major) else {
            let hint = major > SkiffLayout.majorVersion ? " (written by a newer Skiff; upgrade Skiff to read it)" : ""
            let reads = SkiffLayout.readableMajorVersions.map { "\($0).x" }.joined(separator: " and ")
            throw FormatsError(.unsupportedVersion, "format version \(major).\(minor) is not supported: this reader reads \(reads)\(hint)")
        }
        let header = SkiffHeader(
            majorVersion: major, minorVersion: minor, flags: flags,
            fileLength: try r.u64("file_length"), manifestOffset: try r.u64("manifest_offset"),
            manifestLength: try r.u64("manifest_length"), tableOffset: try r.u64("table_offset"),
            tableLength: try r.u64("table_length"), bodyCRC32C: try r.u32("body_crc32c"), headerCRC32C: try r.u32("header_crc32c"))
        let headerCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: file[0..<60]))
        guard headerCRC == header.headerCRC32C else {
            throw FormatsError(.headerChecksum, "header checksum mismatch: computed \(Hex.u32(headerCRC)), stored \(Hex.u32(header.headerCRC32C)) (the header is corrupted)")
        }
        guard flags == 0 else { throw FormatsError(.badHeader, "header flags are \(Hex.u32(flags)), expected 0 (reserved)") }
        if header.fileLength > UInt64(size) {
            throw FormatsError(.truncated, "file is truncated: header says \(header.fileLength) bytes, the file has \(size)")
        }
        if header.fileLength < UInt64(size) {
            throw FormatsError(.trailingBytes, "file has \(UInt64(size) - header.fileLength) unexpected bytes after its end (header says \(header.fileLength) bytes, the file has \(size))")
        }
        // The body checksum runs on another core while the sections, table and manifest are checked (the
        // manifest's JSON decode is the longest step of opening); a mismatch is still the error reported first.
        let body = BodyChecksum(UnsafeRawBufferPointer(rebasing: file[64..<size]))
        do {
            let opened = try validateSections(file, header: header, major: major, minor: minor)
            try body.check(header)
            return opened
        } catch {
            try body.check(header)
            throw error
        }
    }

    /// CRC-32C of the body computed on a global queue; `check` waits for it.
    private final class BodyChecksum: @unchecked Sendable {
        private var value: UInt32 = 0
        private let body: UnsafeRawBufferPointer
        private let done = DispatchSemaphore(value: 0)

        /// `body` must stay mapped until `check` returns (the caller's file outlives validation).
        init(_ body: UnsafeRawBufferPointer) {
            self.body = body
            DispatchQueue.global(qos: .userInitiated).async { [self] in
                value = CRC32C.checksum(self.body)
                done.signal()
            }
        }

        func check(_ header: SkiffHeader) throws {
            done.wait()
            done.signal()
            guard value == header.bodyCRC32C else {
                throw FormatsError(.bodyChecksum, "file checksum mismatch: computed \(Hex.u32(value)), header says \(Hex.u32(header.bodyCRC32C)) (the file is corrupted)")
            }
        }
    }

    private static func validateSections(_ file: UnsafeRawBufferPointer, header: SkiffHeader, major: UInt16, minor: UInt16) throws
        -> (SkiffHeader, SkiffManifest, [TensorEntry]) {
        let size = file.count

        // Sections.
        guard header.manifestOffset == UInt64(SkiffLayout.headerSize) else {
            throw FormatsError(.badHeader, "manifest_offset is \(header.manifestOffset), expected 64")
        }
        guard header.manifestLength >= 2, header.manifestLength <= UInt64(SkiffLayout.maxManifestLength) else {
            throw FormatsError(.manifestTooLarge, "manifest_length is \(header.manifestLength) bytes, expected 2 … \(SkiffLayout.maxManifestLength)")
        }
        let manifestEnd = 64 + Int(header.manifestLength)
        guard manifestEnd <= size else {
            throw FormatsError(.offsetOutOfBounds, "manifest ends at byte \(manifestEnd), past the end of the \(size)-byte file")
        }
        guard header.tableOffset == UInt64(manifestEnd) else {
            throw FormatsError(.badHeader, "table_offset is \(header.tableOffset), expected \(manifestEnd) (right after the manifest)")
        }
        guard header.tableLength >= 8, header.tableLength <= UInt64(SkiffLayout.maxTableLength) else {
            throw FormatsError(.tableInvalid, "table_length is \(header.tableLength) bytes, expected 8 … \(SkiffLayout.maxTableLength)")
        }
        let tableEnd = manifestEnd + Int(header.tableLength)
        guard tableEnd <= size else {
            throw FormatsError(.offsetOutOfBounds, "tensor table ends at byte \(tableEnd), past the end of the \(size)-byte file")
        }
        let dataStart = SkiffLayout.alignUp(tableEnd)
        let tensors = try readTable(UnsafeRawBufferPointer(rebasing: file[manifestEnd..<tableEnd]), dataStart: dataStart, fileLength: size)
        try checkQuantized(tensors, minor: major > 1 ? SkiffLayout.int8MinorVersion : minor)

        // Manifest.
        let manifest: SkiffManifest
        do {
            manifest = try JSONDecoder().decode(SkiffManifest.self, from: Data(file[64..<manifestEnd]))
        } catch let e as DecodingError {
            throw FormatsError(.manifestInvalid, "manifest is not valid: \(describe(e))")
        } catch {
            throw FormatsError(.manifestInvalid, "manifest is not valid JSON: \(error)")
        }
        try manifest.validate()
        if major < 2, manifest.graph.needsVersion2 {
            throw FormatsError(.versionTooOld, "the graph uses format 2.0 (typed values, several outputs or functions), but the file says \(major).\(minor)")
        }
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in manifest.graph.allGraphs.flatMap(\.constants) {
            guard let t = byName[c.name] else {
                throw FormatsError(.missingTensor, "constant '\(c.name)' has no tensor in the tensor table")
            }
            guard c.shape == t.shape.map(Dim.fixed) else {
                throw FormatsError(.sizeMismatch, "constant '\(c.name)' has shape \(c.shape.map(\.description)) in the graph but \(t.shape) in the tensor table")
            }
            guard c.dtype == t.dtype || (c.dtype == .float32 && (t.dtype == .float16 || t.dtype == .int8q)) else {
                throw FormatsError(.sizeMismatch, "constant '\(c.name)' is \(c.dtype) in the graph but stored as \(t.dtype)")
            }
        }
        return (header, manifest, tensors)
    }

    /// int8q tensors (format ≥ 1.1) need a float32 `<name>:scale` tensor of shape [C], C dividing the element count.
    private static func checkQuantized(_ tensors: [TensorEntry], minor: UInt16) throws {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for t in tensors where t.dtype == .int8q {
            guard minor >= SkiffLayout.int8MinorVersion else {
                throw FormatsError(.unsupportedDType, "tensor '\(t.name)' has dtype int8q, which is reserved in format 1.\(minor) (defined from 1.\(SkiffLayout.int8MinorVersion))")
            }
            let scaleName = t.name + SkiffLayout.scaleSuffix
            guard let s = byName[scaleName], s.dtype == .float32, s.shape.count == 1, s.shape[0] >= 1, t.elementCount % s.shape[0] == 0 else {
                throw FormatsError(.missingTensor, "int8q tensor '\(t.name)' needs a float32 tensor '\(scaleName)' of shape [C] with C dividing its \(t.elementCount) elements")
            }
        }
    }

    private static func readTable(_ table: UnsafeRawBufferPointer, dataStart: Int, fileLength: Int) throws -> [TensorEntry] {
        var r = ByteReader(table)
        let count = Int(try r.u32("entry_count"))
        guard try r.u32("reserved") == 0 else { throw FormatsError(.tableInvalid, "tensor table reserved field is not 0") }
        guard count <= SkiffLayout.maxTensorCount else {
            throw FormatsError(.tooManyTensors, "tensor table declares \(count) tensors, more than the limit of \(SkiffLayout.maxTensorCount)")
        }
        guard count * SkiffLayout.minEntrySize <= r.remaining else {
            throw FormatsError(.tooManyTensors, "tensor table declares \(count) tensors, which cannot fit in its \(table.count) bytes")
        }
        var entries: [TensorEntry] = []
        entries.reserveCapacity(count)
        var seen: Set<String> = []
        for i in 0..<count {
            let nameLength = Int(try r.u16("name length of entry \(i)"))
            guard nameLength >= 1, nameLength <= SkiffLayout.maxNameLength else {
                throw FormatsError(.badName, "tensor entry \(i) has a name of \(nameLength) bytes, expected 1 … \(SkiffLayout.maxNameLength)")
            }
            let nameBytes = try r.bytes(nameLength, "name of entry \(i)")
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw FormatsError(.badName, "tensor entry \(i) name is not valid UTF-8")
            }
            guard seen.insert(name).inserted else {
                throw FormatsError(.duplicateName, "tensor '\(name)' appears twice in the tensor table")
            }
            let what = "tensor '\(name)'"
            let dtypeNumber = try r.u8("dtype of \(what)")
            let encodingNumber = try r.u8("encoding of \(what)")
            let rank = Int(try r.u8("rank of \(what)"))
            guard try r.u8("reserved byte of \(what)") == 0 else { throw FormatsError(.tableInvalid, "\(what) reserved byte is not 0") }
            guard let dtype = DType(rawValue: dtypeNumber) else {
                throw FormatsError(.unknownDType, "\(what) has dtype number \(dtypeNumber), which this reader does not know (known: 1 … 8)")
            }
            guard let elementSize = dtype.size else {
                throw FormatsError(.unsupportedDType, "\(what) has dtype \(dtype) (\(dtypeNumber)), which is not supported by this reader")
            }
            guard let encoding = TensorEncoding(rawValue: encodingNumber) else {
                throw FormatsError(.unknownEncoding, "\(what) has encoding number \(encodingNumber), which this reader does not know (known: 0 stored, 1 zstd, 2 shuffle-zstd)")
            }
            guard rank <= SkiffLayout.maxRank else {
                throw FormatsError(.badRank, "\(what) has rank \(rank), more than the limit of \(SkiffLayout.maxRank)")
            }
            var shape: [Int] = []
            var elements = 1
            for d in 0..<rank {
                let dim = try r.u64("dimension \(d) of \(what)")
                guard dim <= SkiffLayout.maxDimension else {
                    throw FormatsError(.absurdShape, "\(what) dimension \(d) is \(dim), more than the limit of 2^40")
                }
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(dim))
                guard !overflow else {
                    throw FormatsError(.absurdShape, "\(what) has an absurd shape: the element count overflows at dimension \(d)")
                }
                elements = p
                shape.append(Int(dim))
            }
            let offset = try r.u64("offset of \(what)"), stored = try r.u64("stored_length of \(what)")
            let raw = try r.u64("raw_length of \(what)"), crc = try r.u32("raw_crc32c of \(what)")
            let (rawExpected, overflow) = elements.multipliedReportingOverflow(by: elementSize)
            guard !overflow, UInt64(rawExpected) == raw else {
                throw FormatsError(.absurdShape, "\(what) shape \(shape) of \(dtype) needs \(overflow ? "more than 2^63" : "\(rawExpected)") bytes, but raw_length is \(raw)")
            }
            guard offset % UInt64(SkiffLayout.alignment) == 0 else {
                throw FormatsError(.misaligned, "\(what) offset \(offset) is not a multiple of \(SkiffLayout.alignment)")
            }
            let (end, endOverflow) = offset.addingReportingOverflow(stored)
            guard offset >= UInt64(dataStart), !endOverflow, end <= UInt64(fileLength) else {
                throw FormatsError(.offsetOutOfBounds, "\(what) occupies bytes \(offset) + \(stored), outside the data section [\(dataStart), \(fileLength))")
            }
            if encoding == .stored, stored != raw {
                throw FormatsError(.sizeMismatch, "\(what) is stored uncompressed but stored_length \(stored) ≠ raw_length \(raw)")
            }
            entries.append(TensorEntry(name: name, dtype: dtype, encoding: encoding, shape: shape, offset: Int(offset),
                                       storedLength: Int(stored), rawLength: Int(raw), rawCRC32C: crc))
        }
        guard r.remaining == 0 else {
            throw FormatsError(.tableInvalid, "tensor table has \(r.remaining) bytes left after its \(count) entries")
        }
        let byOffset = entries.filter { $0.storedLength > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.storedLength > b.offset {
            throw FormatsError(.overlappingTensors, "tensors '\(a.name)' (bytes \(a.offset)..<\(a.offset + a.storedLength)) and '\(b.name)' (from \(b.offset)) overlap")
        }
        return entries
    }

    private static func describe(_ e: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : "at '\(p.hasPrefix(".") ? String(p.dropFirst()) : p)': "
        }
        switch e {
        case .keyNotFound(let k, let c): return "\(path(c))missing key '\(k.stringValue)'"
        case .typeMismatch(let t, let c): return "\(path(c))expected \(t)"
        case .valueNotFound(let t, let c): return "\(path(c))expected \(t), found null"
        case .dataCorrupted(let c): return "\(path(c))\(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}
