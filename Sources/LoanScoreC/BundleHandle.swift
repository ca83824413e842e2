import CLoanScoreABI
import Foundation
import LoanScoreFeatures
import LoanScoreModel
import LoanScoreMonitoring

/// What a `loanscore_bundle *` points at: a loaded, checked bundle and the C strings that
/// describe it. Immutable after `init`, so any number of threads may score with it at once.
final class BundleHandle: @unchecked Sendable {
    let bundle: ModelBundle
    /// The reference bins for the anomaly flags (`out_of_range:FIELD`, `unseen_bin:FIELD`),
    /// as `loanscore score` adds them; nil when the bundle carries none.
    let referenceBins: ReferenceBins?
    /// Every C string this bundle hands out; freed in `deinit`.
    private var owned: [UnsafeMutablePointer<CChar>] = []
    private(set) var info = loanscore_bundle_info()
    private(set) var fields: [loanscore_field] = []
    private(set) var levels: [[UnsafePointer<CChar>]] = []
    /// Per schema field: its name, reason code and reason text (for ``loanscore_reason``).
    private(set) var fieldNames: [UnsafePointer<CChar>] = []
    private(set) var reasonCodes: [UnsafePointer<CChar>] = []
    private(set) var reasonTexts: [UnsafePointer<CChar>] = []

    /// Loads a bundle as `loanscore score --bundle` does, with its messages.
    ///
    /// - Throws: ``CAPIError`` `LOANSCORE_E_BUNDLE` with the CLI's message.
    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CAPIError(LOANSCORE_E_BUNDLE, "\(path): no such bundle folder")
        }
        do {
            bundle = try ModelBundle(directory: URL(fileURLWithPath: path))
        } catch let error as ModelError {
            throw CAPIError(LOANSCORE_E_BUNDLE, "bundle refused: \(error)")
        } catch let error as SchemaError {
            throw CAPIError(LOANSCORE_E_BUNDLE, "schema refused: \(error)")
        }
        referenceBins = bundle.reference.map(ReferenceBins.init)
        let schema = bundle.schema
        let schemaText = (try? Data(contentsOf: bundle.directory.appendingPathComponent(bundle.manifest.schema)))
            .map { String(decoding: $0, as: UTF8.self) } ?? ""
        info = loanscore_bundle_info(
            model_name: own(bundle.manifest.model.name), model_version: own(bundle.manifest.model.version),
            schema_name: own(schema.name), id_column: schema.idColumn.map(own), target_column: schema.target.map { own($0.column) },
            field_count: schema.fields.count, member_count: bundle.scorer.memberNames.count, schema_json: own(schemaText))
        for (index, field) in schema.fields.enumerated() {
            let type: Int32 = switch field.type {
            case .number: LOANSCORE_FIELD_NUMBER
            case .integer: LOANSCORE_FIELD_INTEGER
            case .category: LOANSCORE_FIELD_CATEGORY
            case .boolean: LOANSCORE_FIELD_BOOLEAN
            }
            let name = own(field.name)
            fieldNames.append(name)
            fields.append(loanscore_field(
                name: name, type: type, accepts_missing: field.acceptsMissing ? 1 : 0,
                optional_column: field.isProtected && !field.isFeature ? 1 : 0, is_feature: field.isFeature ? 1 : 0,
                level_count: field.levels?.count ?? 0))
            levels.append((field.levels ?? []).map(own))
            let reason = bundle.scorer.reason(field: index, contribution: 0)
            reasonCodes.append(own(reason.code))
            reasonTexts.append(own(reason.text))
        }
    }

    /// A C copy of `text` that lives as long as this bundle.
    private func own(_ text: String) -> UnsafePointer<CChar> {
        let copy = newCString(text)
        owned.append(copy)
        return UnsafePointer(copy)
    }

    deinit {
        for pointer in owned { free(pointer) }
    }
}
