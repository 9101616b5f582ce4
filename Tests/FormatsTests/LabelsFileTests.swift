import Foundation
@testable import Formats
@testable import Importers
import Testing
import TestSupport

/// The label files people have, read by `convert --labels`.
@Suite struct LabelsFileTests {
    func read(_ name: String, _ text: String) throws -> LabelsFile.Labels {
        let path = try temporaryDirectory() + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return try LabelsFile.read(path)
    }

    func error(_ name: String, _ text: String) throws -> String {
        let e = try #require(throws: FormatsError.self) { try read(name, text) }
        return e.description
    }

    @Test func quotedCSVFieldsKeepTheirCommas() throws {
        let l = try read("labels.csv", "id,name\n0,\"Terrier, type 0\"\n1,\"Hound, \"\"basset\"\"\"\n2,plain\n")
        #expect(l.names == ["Terrier, type 0", "Hound, \"basset\"", "plain"])
    }

    @Test func headerlessCSVKeepsItsFirstRow() throws {
        #expect(try read("l.csv", "0,cat\n1,dog\n2,fish\n").names == ["cat", "dog", "fish"])
        #expect(try read("l.csv", "cat\ndog\nfish\n").names == ["cat", "dog", "fish"])
        #expect(try read("l.csv", "0,\"Terrier, type 0\"\n1,b\n").names == ["Terrier, type 0", "b"])
    }

    @Test func headersAreFoundWhenTheFirstRowIsNotData() throws {
        // pandas' Series.to_csv (the breed app's unique_labels.csv): an empty index header.
        #expect(try read("unique_labels.csv", ",0\n0,affenpinscher\n1,afghan_hound\n").names == ["affenpinscher", "afghan_hound"])
        // DataFrame.to_csv(index=False) of a list: a numeric column header over names.
        #expect(try read("l.csv", "0\naffenpinscher\nafghan_hound\n").names == ["affenpinscher", "afghan_hound"])
        #expect(try read("l.csv", "label\ncat\ndog\n").names == ["cat", "dog"])
        #expect(try read("l.csv", "id,breed\n0,abyssinian\n1,beagle\n").names == ["abyssinian", "beagle"])
        // A named column wins over the last one.
        #expect(try read("l.csv", "class_id,name,count\n0,cat,12\n1,dog,40\n").names == ["cat", "dog"])
    }

    @Test func indexColumnsOrderTheRows() throws {
        #expect(try read("l.csv", "id,name\n2,fish\n0,cat\n1,dog\n").names == ["cat", "dog", "fish"])
        #expect(try read("l.csv", "1,cat\n2,dog\n").names == ["cat", "dog"])  // 1-based
        #expect(try error("l.csv", "0,cat\n2,dog\n").contains("1 is missing"))
        #expect(try error("l.csv", "0,cat\n0,dog\n").contains("class index 0 appears twice"))
    }

    @Test func jsonShapes() throws {
        #expect(try read("l.json", #"["cat", "dog"]"#).names == ["cat", "dog"])
        #expect(try read("l.json", #"{"1": "dog", "0": "cat"}"#).names == ["cat", "dog"])
        // Keras flow_from_directory's class_indices.
        let keras = try read("class_indices.json", #"{"dog": 1, "cat": 0, "fish": 2}"#)
        #expect(keras.names == ["cat", "dog", "fish"])
        #expect(keras.description.contains("class_indices"))
        #expect(try error("l.json", #"{"cat": 0, "dog": "x"}"#).contains("mixed"))
        #expect(try error("l.json", #"[1, 2"#).contains("not valid JSON"))
    }

    @Test func labelMapPbtxt() throws {
        let text = """
        # COCO-style, ids with gaps
        item {
          name: "/m/01g317"
          id: 1
          display_name: "person"
        }
        item { id: 3 name: "car" }
        item {
          id: 2
          display_name: 'bicycle, "road"'
        }
        """
        #expect(try read("label_map.pbtxt", text).names == ["person", "bicycle, \"road\"", "car"])
        let gaps = try read("label_map.pbtxt", "item { id: 1 name: \"a\" }\nitem { id: 4 name: \"d\" }\n")
        #expect(gaps.names == ["", "a", "", "", "d"])
        #expect(try error("label_map.pbtxt", "item { name: \"a\" }").contains("has no id"))
        #expect(try error("label_map.pbtxt", "item { id: 1 name: \"a\"").contains("not closed"))
        #expect(try error("label_map.pbtxt", "item { id: 1 name: \"a\" }\nitem { id: 1 name: \"b\" }").contains("id 1 appears twice"))
    }

    @Test func plainText() throws {
        #expect(try read("labels.txt", "cat\r\ndog\n\n").names == ["cat", "dog"])
        #expect(try read("labels.txt", "\u{FEFF}Terrier, type 0\ndog").names == ["Terrier, type 0", "dog"])
        #expect(try error("labels.txt", "cat\n\ndog\n").contains("line 2 is empty"))
    }

    /// The cap is enforced while reading: `/dev/zero` (endless) once read until memory ran out.
    @Test func oversizedAndEndlessFilesAreRefusedWhileReading() throws {
        expectFormatsError(.sizeMismatch, "/dev/zero", "labels file", "\(LabelsFile.maxBytes)") { try LabelsFile.read("/dev/zero") }
        let dir = try temporaryDirectory()
        let big = dir + "/big.txt"
        try Data(repeating: UInt8(ascii: "a"), count: LabelsFile.maxBytes + 1).write(to: URL(fileURLWithPath: big))
        expectFormatsError(.sizeMismatch, "big.txt", "more than \(LabelsFile.maxBytes) bytes") { try LabelsFile.read(big) }
        expectFormatsError(.io, "cannot read the labels file") { try LabelsFile.read(dir + "/missing.txt") }
    }
}
