import ArgumentParser
import Foundation
import LoanScoreFeatures
import LoanScoreModel

/// `loanscore bundle`: inspect and verify model bundles.
struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Inspect or verify a model bundle.",
        subcommands: [Inspect.self, Verify.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a bundle and print its manifest readably.",
            discussion: "Loading checks every file's sha256, the format version, the schema and each member; a bundle that fails is refused with exit code 3."
        )

        @Argument(help: "The bundle folder.")
        var bundle: String

        @Flag(help: "Print the manifest's contents as JSON.")
        var json = false

        func run() throws {
            let bundle = try loadBundle(self.bundle)
            let manifest = bundle.manifest
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                FileHandle.standardOutput.write(try encoder.encode(manifest) + Data("\n".utf8))
                return
            }
            let lineage = manifest.lineage
            print("Bundle      \(bundle.directory.path)  (format \(manifest.formatVersion), all \(manifest.files.count) file hashes verified)")
            print("Model       \(manifest.model.name) \(manifest.model.version), created \(manifest.createdAt)")
            print("Training    \(lineage.trainingData.file) (\(lineage.trainingData.rows.map { "\($0) rows, " } ?? "")sha256 \(lineage.trainingData.sha256.prefix(16))…), seed \(lineage.seed.map(String.init) ?? "-"), commit \(lineage.codeCommit.prefix(12))")
            print("Libraries   " + lineage.libraries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            print("Members     " + manifest.members.map { "\($0.name) (\($0.kind.rawValue), weight \(String(format: "%.2f", $0.weight)))" }.joined(separator: ", "))
            let calibration = manifest.calibration.kind == "isotonic" ? "isotonic, \(manifest.calibration.x?.count ?? 0) points" : manifest.calibration.kind
            print("Combination \(manifest.combination), calibration \(calibration)")
            let policy = manifest.policy
            print("Cut-offs    approve PD < \(policy.approveBelow), review, decline PD >= \(policy.declineAt)")
            print("Risk levels " + policy.riskLevels.map { "\($0.name) < \($0.upper)" }.joined(separator: ", "))
            print("Features    \(manifest.features.count) model-ready columns from \(bundle.schema.fields.count) fields and \(bundle.schema.derived.count) derived features")
            print("\nInput schema '\(bundle.schema.name)':")
            print(pad("field", 22) + pad("type", 10) + pad("unit", 26) + pad("null", 6) + pad("reason", 5) + "allowed")
            for field in bundle.schema.fields {
                let reason = manifest.reasonCodes[field.name]?.code ?? "-"
                let allowed: String
                switch field.type {
                case .category: allowed = (field.levels ?? []).joined(separator: " | ")
                case .boolean: allowed = "true: \(field.effectiveTrueLabels.joined(separator: "/")); false: \(field.effectiveFalseLabels.joined(separator: "/"))"
                case .number, .integer: allowed = "[\(field.range?.min.map { "\($0)" } ?? "-∞"), \(field.range?.max.map { "\($0)" } ?? "∞")]"
                }
                // Governance keys (SCHEMA.md), shown only when a field has them.
                var notes: [String] = []
                if field.isProtected { notes.append(field.isFeature ? "protected, a feature" : "protected, not a feature") }
                if let direction = field.monotone { notes.append("monotone \(direction.rawValue)") }
                if field.exposure == true { notes.append("exposure") }
                if field.postOrigination == true { notes.append("post-origination") }
                let note = notes.isEmpty ? "" : "  [" + notes.joined(separator: "; ") + "]"
                print(pad(field.name, 22) + pad(field.type.rawValue, 10) + pad(field.unit ?? "", 26) + pad(field.acceptsMissing ? "yes" : "no", 6) + pad(reason, 5) + allowed + note)
            }
            if !bundle.schema.derived.isEmpty {
                print("\nDerived features:")
                for feature in bundle.schema.derived {
                    print("  " + pad(feature.name, 24) + pad(feature.kind.rawValue, 18) + feature.inputs.joined(separator: ", "))
                }
            }
            if case .object(let metrics)? = manifest.metrics { printLeaderboard(metrics) }
            if let fairness = manifest.fairness { printFairness(fairness) }
            if let cutoffs = manifest.cutoffs { printCutoffs(cutoffs) }
        }

        private func printLeaderboard(_ metrics: [String: JSONValue]) {
            guard case .array(let members)? = metrics["members"] else { return }
            var rows = members
            if let ensemble = metrics["ensemble"] { rows.append(ensemble) }
            print("\nLeaderboard (training tool):")
            print(pad("", 10) + ["CV AUC", "AUC", "Gini", "KS", "Brier", "LogLoss"].map { pad($0, 9) }.joined())
            for row in rows {
                guard case .object(let entry) = row else { continue }
                var name = "ensemble"
                if case .string(let n)? = entry["name"] { name = n }
                var cells = [number(entry["cv_roc_auc"])]
                if case .object(let holdout)? = entry["holdout"] {
                    cells += ["roc_auc", "gini", "ks", "brier", "log_loss"].map { number(holdout[$0]) }
                }
                print(pad(name, 10) + cells.map { pad($0, 9) }.joined())
            }
        }

        private func number(_ value: JSONValue?) -> String {
            if case .number(let n)? = value { return String(format: "%.4f", n) }
            return "-"
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score the bundle's validation set and compare with the training libraries' own predictions.",
            discussion: "Every member's probability, the combined probability and the PD must match validation/predictions.csv within the tolerance, and the PD must follow every field the schema declares monotone (checked on the holdout over a grid of the field's values, tolerance 1e-12); exit code 3 otherwise."
        )

        @Argument(help: "The bundle folder.")
        var bundle: String

        @Option(help: "Largest accepted absolute difference.")
        var tolerance: Double = 1e-6

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let bundle = try loadBundle(self.bundle)
            let result = try BundleVerification(bundle: bundle).run()
            // Fields declared "monotone" in the schema: the PD along a grid of each, per holdout row.
            let monotone = MonotonicityCheck(bundle: bundle).run(applications: result.applications)
            let reproduced = result.maximumDifference.values.allSatisfy { $0 <= tolerance }
            if json {
                var object: [String: Any] = ["rows": result.rows, "max_abs_difference": result.maximumDifference,
                                             "tolerance": tolerance, "passed": reproduced && monotone.allSatisfy { $0.violationCount == 0 }]
                if !monotone.isEmpty {
                    object["monotone"] = monotone.map { field -> [String: Any] in
                        ["field": field.field, "direction": field.direction.rawValue, "applications": field.applications,
                         "values": field.values, "violations": field.violationCount,
                         "examples": field.violations.map { ["row": $0.row, "from": $0.from, "to": $0.to, "pd_from": $0.pdFrom, "pd_to": $0.pdTo] }]
                    }
                }
                try printJSON(object)
            } else {
                print("Verified \(result.rows) holdout application(s) against the training libraries' predictions:")
                for (name, difference) in result.maximumDifference.sorted(by: { $0.key < $1.key }) {
                    print("  " + pad(name, 14) + "max |difference| \(String(format: "%.3e", difference))" + (difference <= tolerance ? "" : "  EXCEEDS \(tolerance)"))
                }
                for field in monotone {
                    if field.values.count < 2 {
                        print("monotone \(field.field) \(field.direction.rawValue): not checked (the holdout holds fewer than two distinct values and the schema gives no range)")
                    } else {
                        print("monotone \(field.field) \(field.direction.rawValue): \(field.violationCount) violation\(field.violationCount == 1 ? "" : "s") over \(field.applications) applications × \(field.values.count) values")
                    }
                }
            }
            let failed = result.maximumDifference.filter { $0.value > tolerance }
            if !failed.isEmpty {
                throw Failure.invalidData("bundle does not reproduce its training libraries: " + failed.keys.sorted().joined(separator: ", ") + " differ by more than \(tolerance)")
            }
            let broken = monotone.filter { $0.violationCount > 0 }
            if !broken.isEmpty {
                throw Failure.invalidData("the model breaks the schema's monotone constraints: " + broken.map(Self.describe).joined(separator: "; "))
            }
        }

        /// A field's violations in one line: the count and the first examples, naming rows and values.
        private static func describe(_ field: MonotonicityCheck.FieldResult) -> String {
            let examples = field.violations.map {
                "row \($0.row): \(field.field) \(formatValue($0.from)) → \(formatValue($0.to)) moves the PD from \(String(format: "%.6f", $0.pdFrom)) to \(String(format: "%.6f", $0.pdTo))"
            }
            return "\(field.field) is declared \(field.direction.rawValue) but \(field.violationCount) step(s) of the PD go the other way ("
                + examples.joined(separator: ", ") + (field.violationCount > field.violations.count ? ", …" : "") + ")"
        }

        private static func formatValue(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
