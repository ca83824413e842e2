public import Foundation
import Crypto

/// A small, hand-computed model bundle for tests: five fields, one derived feature, an
/// XGBoost model of two trees, a forest of one tree and a logistic regression, with values
/// chosen so that expected outputs can be worked out by hand (see the tests).
///
/// Columns: `amount`, `income`, `home=rent`, `home=own`, `records`, `amount_to_income`.
public enum TinyBundle {
    public static let schemaJSON = """
    {"format": "loanscore-schema/1", "name": "tiny", "id_column": "application_id",
     "target": {"column": "status", "positive": "bad"},
     "fields": [
       {"name": "amount", "type": "number", "unit": "EUR", "range": {"min": 0, "max": 100000}, "nullable": false,
        "reason": "Amount requested too high"},
       {"name": "income", "type": "number", "unit": "EUR per month", "range": {"min": 0}, "sentinels": ["99999999"],
        "reason": "Income too low"},
       {"name": "home", "type": "category", "levels": ["rent", "own"], "unseen": "missing"},
       {"name": "records", "type": "boolean", "true_labels": ["yes"], "false_labels": ["no"], "nullable": false},
       {"name": "term", "type": "integer", "unit": "months", "range": {"min": 1, "max": 120}, "feature": false}
     ],
     "derived": [{"name": "amount_to_income", "kind": "ratio", "inputs": ["amount", "income"]}]}
    """

    public static let features = ["amount", "income", "home=rent", "home=own", "records", "amount_to_income"]

    /// Tree 0 splits `amount < 1000` (missing goes right); tree 1 splits `records < 0.5`
    /// (missing goes left). base_score 0.5, so the base margin is 0.
    public static let xgboostJSON = """
    {"learner": {"attributes": {}, "feature_names": [], "feature_types": [],
      "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "2"},
        "iteration_indptr": [0, 1, 2], "tree_info": [0, 0],
        "trees": [
          {"id": 0, "base_weights": [0, -0.5, 0.5], "categories": [], "categories_nodes": [], "categories_segments": [],
           "categories_sizes": [], "default_left": [0, 0, 0], "left_children": [1, -1, -1], "right_children": [2, -1, -1],
           "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0], "split_conditions": [1000, -0.5, 0.5],
           "split_indices": [0, 0, 0], "split_type": [0, 0, 0], "sum_hessian": [4, 3, 1],
           "tree_param": {"num_deleted": "0", "num_feature": "6", "num_nodes": "3", "size_leaf_vector": "1"}},
          {"id": 1, "base_weights": [0, -0.25, 1], "categories": [], "categories_nodes": [], "categories_segments": [],
           "categories_sizes": [], "default_left": [1, 0, 0], "left_children": [1, -1, -1], "right_children": [2, -1, -1],
           "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0], "split_conditions": [0.5, -0.25, 1],
           "split_indices": [4, 0, 0], "split_type": [0, 0, 0], "sum_hessian": [5, 4, 1],
           "tree_param": {"num_deleted": "0", "num_feature": "6", "num_nodes": "3", "size_leaf_vector": "1"}}
        ]}},
      "learner_model_param": {"base_score": "[5E-1]", "boost_from_average": "1", "num_class": "0", "num_feature": "6", "num_target": "1"},
      "name": "generic", "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}},
     "version": [3, 2, 0]}
    """

    /// One tree: `amount_to_income <= 10` goes left (p 0.2), else right (p 0.6); missing goes left.
    public static let forestJSON = """
    {"format": "loanscore-forest/1", "library": "scikit-learn", "library_version": "test", "n_features": 6,
     "trees": [{"children_left": [1, -1, -1], "children_right": [2, -1, -1], "feature": [5, -2, -2],
                "threshold": [10.0, -2.0, -2.0], "missing_go_to_left": [1, 0, 0], "value": [0.3, 0.2, 0.6]}]}
    """

    /// Margin = -1 + 0.5 z_amount + 1.0 z_records, with mean 0 / scale 1 except amount
    /// (mean 1000, scale 1000); income imputed with 2000.
    public static let logisticJSON = """
    {"format": "loanscore-logistic/1", "library": "scikit-learn", "library_version": "test", "n_features": 6,
     "imputation": {"strategy": "median", "values": [1000, 2000, 0, 0, 0, 0.5]},
     "scaling": {"mean": [1000, 0, 0, 0, 0, 0], "scale": [1000, 1, 1, 1, 1, 1]},
     "coefficients": [0.5, 0, 0, 0, 1.0, 0], "intercept": -1.0}
    """

    /// The manifest, with `files` filled in by ``write(to:manifestEdits:)``.
    public static func manifest(files: [String: String]) -> [String: Any] {
        [
            "format_version": 1,
            "model": ["name": "tiny", "version": "test-1"],
            "created_at": "2026-11-29T00:00:00Z",
            "lineage": ["training_data": ["file": "none.csv", "sha256": String(repeating: "0", count: 64), "rows": 0],
                        "code_commit": "unknown", "libraries": ["xgboost": "3.2.0", "scikit-learn": "1.9.1"], "seed": 1],
            "schema": "schema.json",
            "features": features,
            "members": [
                ["name": "xgboost", "kind": "xgboost", "file": "members/xgboost.json", "weight": 0.5],
                ["name": "forest", "kind": "random_forest", "file": "members/forest.json", "weight": 0.3],
                ["name": "logistic", "kind": "logistic_regression", "file": "members/logistic.json", "weight": 0.2],
            ],
            "combination": "weighted_mean",
            "calibration": ["kind": "isotonic", "x": [0.0, 0.5, 1.0], "y": [0.0, 0.4, 1.0]],
            "policy": ["approve_below": 0.2, "decline_at": 0.5,
                       "risk_levels": [["name": "low", "upper": 0.2], ["name": "medium", "upper": 0.5], ["name": "high", "upper": 1.0]]],
            "reason_codes": ["amount": ["code": "R01", "text": "Amount requested too high"],
                             "income": ["code": "R02", "text": "Income too low"],
                             "home": ["code": "R03", "text": "Housing situation"],
                             "records": ["code": "R04", "text": "Record of past arrears"],
                             "term": ["code": "R05", "text": "Loan term"]],
            "files": files,
        ]
    }

    /// The bundle's files (relative path → text), as ``write(to:manifestEdits:)`` writes them.
    public static let files = [
        "schema.json": schemaJSON,
        "members/xgboost.json": xgboostJSON,
        "members/forest.json": forestJSON,
        "members/logistic.json": logisticJSON,
    ]

    /// Writes the bundle into `directory` (created if needed).
    ///
    /// - Parameter manifestEdits: changes applied to the manifest after the hashes are
    ///   computed (to build broken bundles in tests).
    public static func write(to directory: URL, manifestEdits: (inout [String: Any]) -> Void = { _ in }) throws {
        try write(files: files, to: directory, manifestEdits: manifestEdits)
    }

    /// Writes bundle files (relative path → text), then the manifest with their sha256
    /// hashes, changed by `manifestEdits` after the hashes are computed.
    ///
    /// Tests that need another schema, extra files (a validation set) or other members start
    /// from ``files`` and change it.
    public static func write(files contents: [String: String], to directory: URL,
                      manifestEdits: (inout [String: Any]) -> Void) throws {
        var hashes: [String: String] = [:]
        for (name, text) in contents {
            let data = Data(text.utf8)
            let url = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
            hashes[name] = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        }
        var manifest = manifest(files: hashes)
        manifestEdits(&manifest)
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: directory.appendingPathComponent("manifest.json"))
    }

    /// A fresh temporary folder, removed by the caller.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loanscore-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
