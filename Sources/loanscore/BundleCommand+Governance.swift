import Foundation
import LoanScoreModel

/// `loanscore bundle inspect`'s summaries of the manifest's optional `fairness` and `cutoffs`
/// (BUNDLE.md). Both are informational, written by the training tool; a key or value that is
/// absent, null or of another type prints as `-` rather than failing the inspection.
extension BundleCommand.Inspect {
    func printFairness(_ fairness: JSONValue) {
        guard case .object(let entry) = fairness else { return }
        let threshold = Self.number(entry["threshold"], "%.2f")
        var verdict = "-"
        if case .bool(let passed)? = entry["passed"] { verdict = passed ? "passed" : "FAILED" }
        print("\nFairness (training tool; adverse impact ratio flagged below \(threshold)): \(verdict)")
        guard case .array(let list)? = entry["groups"] else { return }
        let groups = list.compactMap { value -> [String: JSONValue]? in
            if case .object(let group) = value { return group }
            return nil
        }
        // Columns as wide as their longest entry: level names can be long.
        let fieldWidth = groups.map { Self.text($0["field"]).count + 2 }.max().map { max($0, 7) } ?? 7
        let groupWidth = groups.map { Self.text($0["group"]).count + 2 }.max().map { max($0, 7) } ?? 7
        print(pad("field", fieldWidth) + pad("group", groupWidth) + pad("applicants", 11) + pad("default", 9) + pad("approval", 9)
              + pad("AUC", 8) + pad("AIR", 8) + "flag")
        for group in groups {
            var flag = ""
            if case .bool(true)? = group["flagged"] { flag = "FLAGGED" }
            var applicants = "-"
            if case .number(let n)? = group["applicants"] { applicants = String(Int(n)) }
            print(pad(Self.text(group["field"]), fieldWidth) + pad(Self.text(group["group"]), groupWidth) + pad(applicants, 11)
                  + pad(Self.number(group["default_rate"], "%.4f"), 9) + pad(Self.number(group["approval_rate"], "%.4f"), 9)
                  + pad(Self.number(group["roc_auc"], "%.4f"), 8) + pad(Self.number(group["adverse_impact_ratio"], "%.3f"), 8) + flag)
        }
    }

    func printCutoffs(_ cutoffs: JSONValue) {
        guard case .object(let entry) = cutoffs else { return }
        var exposure = "constant 1"
        if case .string(let field)? = entry["exposure_field"] { exposure = "field '\(field)'" }
        print("\nCut-offs from the lender's economics (training tool):")
        print("  LGD \(Self.number(entry["lgd"], "%.4g")), margin \(Self.number(entry["margin"], "%.4g")), exposure \(exposure), "
              + "target approval rate \(Self.number(entry["target_approval_rate"], "%.4g"))")
        print("  break-even PD \(Self.number(entry["break_even_pd"], "%.4f")), approve below \(Self.number(entry["approve_below"], "%.4f")), "
              + "decline at \(Self.number(entry["decline_at"], "%.4f"))")
        if case .string(let rule)? = entry["rule"] { print("  rule: \(rule)") }
        guard case .array(let table)? = entry["table"], !table.isEmpty else { return }
        print("  " + ["PD cut-off", "approval", "bad rate", "exp. loss", "profit"].map { pad($0, 12) }.joined())
        for case .object(let row) in table {
            print("  " + [Self.number(row["pd_cutoff"], "%.4f"), Self.number(row["approval_rate"], "%.4f"), Self.number(row["bad_rate"], "%.4f"),
                          Self.number(row["expected_loss"], "%.2f"), Self.number(row["profit"], "%.2f")].map { pad($0, 12) }.joined())
        }
    }

    private static func number(_ value: JSONValue?, _ format: String) -> String {
        if case .number(let n)? = value { return String(format: format, n) }
        return "-"
    }

    private static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: return s
        case .number(let n)?: return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .bool(let b)?: return String(b)
        default: return "-"
        }
    }
}
