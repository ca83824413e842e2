import Foundation
import LoanScoreFeatures

/// Small schemas written inline, and the message a schema is refused with: shared by the
/// schema test suites.
protocol SchemaChecking {}

extension SchemaChecking {
    /// A `loanscore-schema/1` document with these `fields` and `derived` (JSON arrays).
    func schema(fields: String, derived: String = "[]") -> String {
        #"{"format": "loanscore-schema/1", "name": "t", "fields": \#(fields), "derived": \#(derived)}"#
    }

    /// The ``SchemaError`` message `json` is refused with, or nil when it loads.
    func error(_ json: String) -> String? {
        do {
            _ = try Schema.decode(Data(json.utf8))
            return nil
        } catch let error as SchemaError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
