public import Foundation

/// ``TinyBundle`` with hand-made reference bins (`reference.json`, BUNDLE.md), for drift and
/// anomaly tests before (and independently of) the training tool writing real ones.
///
/// The bins, over the slots amount, income, home, records, term, amount_to_income, then pd:
/// * amount: edges [500, 1000] → `(-inf, 500]` 0.3, `(500, 1000]` 0.4, `(1000, inf)` 0.3,
///   missing 0; training range [100, 5000];
/// * income: edges [1000, 2000] → 0.3, 0.3, 0.3, missing 0.1; range [200, 9000];
/// * home: rent 0.6, own 0.4, missing 0 (an unseen level, missing, is an `unseen_bin`);
/// * records: false 0.7, true 0.3, missing 0;
/// * term: no edges (every training term was 12): `(-inf, inf)` 1.0, missing 0; range [12, 12];
/// * amount_to_income: edges [0.5] → 0.5, 0.4, missing 0.1; range [0.05, 5];
/// * pd: edges [0.1, 0.2, 0.3] → 0.25 each, missing 0; range [0.01, 0.6].
extension TinyBundle {
    public static let referenceJSON = """
    {"format": "loanscore-reference/1", "rows": 10, "pd_rows": 4, "approval_rate": 0.25,
     "fields": [
       {"name": "amount", "source": "input", "type": "number", "edges": [500, 1000], "shares": [0.3, 0.4, 0.3],
        "missing": 0.0, "min": 100, "max": 5000},
       {"name": "income", "source": "input", "type": "number", "edges": [1000, 2000], "shares": [0.3, 0.3, 0.3],
        "missing": 0.1, "min": 200, "max": 9000},
       {"name": "home", "source": "input", "type": "category", "levels": ["rent", "own"], "shares": [0.6, 0.4], "missing": 0.0},
       {"name": "records", "source": "input", "type": "boolean", "shares": [0.7, 0.3], "missing": 0.0},
       {"name": "term", "source": "input", "type": "number", "edges": [], "shares": [1.0], "missing": 0.0, "min": 12, "max": 12},
       {"name": "amount_to_income", "source": "derived", "type": "number", "edges": [0.5], "shares": [0.5, 0.4],
        "missing": 0.1, "min": 0.05, "max": 5},
       {"name": "pd", "source": "pd", "type": "number", "edges": [0.1, 0.2, 0.3], "shares": [0.25, 0.25, 0.25, 0.25],
        "missing": 0.0, "min": 0.01, "max": 0.6}
     ]}
    """

    /// Writes ``TinyBundle`` with `reference` as `reference.json`: listed in `files` with its
    /// sha256 like every file, and named by the manifest's `reference` key; `manifestEdits`
    /// then changes the manifest (after the hashes are computed).
    public static func writeWithReference(to directory: URL, reference: String = referenceJSON,
                                          manifestEdits: (inout [String: Any]) -> Void = { _ in }) throws {
        var contents = files
        contents["reference.json"] = reference
        try write(files: contents, to: directory) { manifest in
            manifest["reference"] = "reference.json"
            manifestEdits(&manifest)
        }
    }
}
