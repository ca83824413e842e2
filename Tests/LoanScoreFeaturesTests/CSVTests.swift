import Foundation
import LoanScoreFeatures
import LoanScoreTestSupport
import Testing

@Suite("CSV reading")
struct CSVTests {
    func write(_ text: String) throws -> URL {
        let url = try TinyBundle.temporaryDirectory().appendingPathComponent("input.csv")
        try Data(text.utf8).write(to: url)
        return url
    }

    func records(_ text: String) throws -> [[String]] {
        let reader = try CSVReader(url: try write(text))
        var out: [[String]] = []
        while let record = try reader.next() { out.append(record.fields) }
        return out
    }

    @Test func readsQuotesEmbeddedNewlinesCRLFAndBOM() throws {
        let text = "\u{FEFF}a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n\n1,,3\n"
        #expect(try records(text) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["1", "", "3"]])
    }

    @Test func lastRecordWithoutLineEnd() throws {
        #expect(try records("a,b\n1,2") == [["a", "b"], ["1", "2"]])
    }

    @Test func unterminatedQuoteIsAnErrorWithItsLine() throws {
        #expect(throws: CSVReader.FormatError.self) { try records("a,b\n1,\"open\n") }
        do {
            _ = try records("a,b\n1,\"open\n")
        } catch let error as CSVReader.FormatError {
            #expect(error.line == 2)
            #expect(error.problem == "a quoted field is not closed before the end of the file")
        }
    }

    @Test func strayQuoteIsAnError() throws {
        #expect(throws: CSVReader.FormatError.self) { try records("a,b\n1,x\"y\n") }
    }

    @Test func applicationFileMatchesColumnsByNameInAnyOrder() throws {
        let schema = try Schema.decode(Data(TinyBundle.schemaJSON.utf8))
        let url = try write("term,records,home,income,amount,application_id,status\n12,no,rent,1000,500,A-7,good\n")
        let file = try ApplicationFile(url: url, schema: schema)
        let application = try #require(try file.next())
        #expect(application.id == "A-7")
        #expect(application.values == [.text("500"), .text("1000"), .text("rent"), .text("no"), .text("12")])
        #expect(try file.next() == nil)
    }

    @Test func fileLevelErrorsNameTheProblem() throws {
        let schema = try Schema.decode(Data(TinyBundle.schemaJSON.utf8))
        func message(_ text: String) throws -> String {
            do {
                let file = try ApplicationFile(url: try write(text), schema: schema)
                while try file.next() != nil {}
                return "no error"
            } catch let error as ApplicationFile.FileError {
                return error.message
            }
        }
        #expect(try message("").hasSuffix("the file is empty (expected a header row naming the schema's fields)"))
        #expect(try message("amount,income,home,records\n").hasSuffix("missing column(s) 'term' required by schema 'tiny'"))
        #expect(try message("amount,income,home,records,term,colour\n").contains("unknown column(s) 'colour'"))
        #expect(try message("amount,income,home,records,term\n1,2,3\n").hasSuffix("row 1 (line 2) has 3 cells, the header has 5"))
        #expect(try message("amount,amount,income,home,records,term\n").hasSuffix("column 'amount' appears twice in the header"))
    }
}
