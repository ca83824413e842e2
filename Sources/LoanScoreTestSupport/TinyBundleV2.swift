public import Foundation

/// A second version of ``TinyBundle`` with another schema and feature list, for reload tests:
/// version `test-2` adds a nullable field `age` (a feature), a derived feature
/// `income_minus_amount`, and a logistic regression with another intercept, so every PD
/// differs from `test-1`'s while applications that `test-1` accepts stay valid (their `age`
/// is missing and imputed).
///
/// Columns: `amount`, `income`, `home=rent`, `home=own`, `records`, `age`,
/// `amount_to_income`, `income_minus_amount`.
extension TinyBundle {
    public static let version2Schema = """
    {"format": "loanscore-schema/1", "name": "tiny", "id_column": "application_id",
     "target": {"column": "status", "positive": "bad"},
     "fields": [
       {"name": "amount", "type": "number", "unit": "EUR", "range": {"min": 0, "max": 100000}, "nullable": false,
        "reason": "Amount requested too high"},
       {"name": "income", "type": "number", "unit": "EUR per month", "range": {"min": 0}, "sentinels": ["99999999"],
        "reason": "Income too low"},
       {"name": "home", "type": "category", "levels": ["rent", "own"], "unseen": "missing"},
       {"name": "records", "type": "boolean", "true_labels": ["yes"], "false_labels": ["no"], "nullable": false},
       {"name": "term", "type": "integer", "unit": "months", "range": {"min": 1, "max": 120}, "feature": false},
       {"name": "age", "type": "number", "unit": "years", "range": {"min": 18, "max": 120}}
     ],
     "derived": [{"name": "amount_to_income", "kind": "ratio", "inputs": ["amount", "income"]},
                 {"name": "income_minus_amount", "kind": "difference", "inputs": ["income", "amount"]}]}
    """

    public static let version2Features = ["amount", "income", "home=rent", "home=own", "records", "age", "amount_to_income",
                                          "income_minus_amount"]

    /// Writes version `test-2` into `directory` (created if needed).
    public static func writeVersion2(to directory: URL, manifestEdits: (inout [String: Any]) -> Void = { _ in }) throws {
        let contents = [
            "schema.json": version2Schema,
            // The same two trees (features 0 and 4 keep their columns) over eight columns.
            "members/xgboost.json": xgboostJSON.replacingOccurrences(of: "\"num_feature\": \"6\"", with: "\"num_feature\": \"8\""),
            // The forest's split moves with amount_to_income from column 5 to column 6.
            "members/forest.json": forestJSON.replacingOccurrences(of: "\"n_features\": 6", with: "\"n_features\": 8")
                .replacingOccurrences(of: "\"feature\": [5, -2, -2]", with: "\"feature\": [6, -2, -2]"),
            "members/logistic.json": """
            {"format": "loanscore-logistic/1", "library": "scikit-learn", "library_version": "test", "n_features": 8,
             "imputation": {"strategy": "median", "values": [1000, 2000, 0, 0, 0, 40, 0.5, 1000]},
             "scaling": {"mean": [1000, 0, 0, 0, 0, 40, 0, 0], "scale": [1000, 1, 1, 1, 1, 10, 1, 1000]},
             "coefficients": [0.5, 0, 0, 0, 1.0, 0.3, 0, -0.2], "intercept": -0.4}
            """,
        ]
        try write(files: contents, to: directory) { manifest in
            manifest["model"] = ["name": "tiny", "version": "test-2"]
            manifest["features"] = version2Features
            var reasons = manifest["reason_codes"] as? [String: Any] ?? [:]
            reasons["age"] = ["code": "R06", "text": "Age"]
            manifest["reason_codes"] = reasons
            manifestEdits(&manifest)
        }
    }
}
