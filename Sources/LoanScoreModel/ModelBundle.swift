public import Foundation
public import LoanScoreFeatures
import Crypto

/// A model bundle loaded from a folder and checked (BUNDLE.md, "LoanScore refuses a bundle…").
///
/// Loading verifies every file's sha256, the format version, the schema and the feature list
/// it produces, each member's file, the weights, calibration and policy. A bundle that loads
/// is ready to score: ``scorer`` is the compiled ensemble.
public struct ModelBundle: Sendable {
    public let directory: URL
    public let manifest: Manifest
    public let schema: Schema
    public let pipeline: FeaturePipeline
    public let scorer: EnsembleScorer
    /// The training data's reference bins (`reference.json`), checked against ``schema``;
    /// `nil` when the manifest names none (drift is then unavailable, never zero).
    public let reference: ReferenceProfile?

    /// Loads and checks a bundle folder.
    ///
    /// - Parameter directory: the bundle folder (holding `manifest.json`).
    /// - Throws: ``ModelError`` naming the file and what failed.
    /// - Complexity: reads and hashes every file once; O(total nodes) to compile the members.
    public init(directory: URL) throws {
        self.directory = directory
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard let manifestData = try? Data(contentsOf: manifestURL) else {
            throw ModelError(file: "manifest.json", "cannot read \(manifestURL.path) (is \(directory.path) a bundle folder?)")
        }
        if let version = try? JSONDecoder().decode(FormatProbe.self, from: manifestData).formatVersion,
           version != Manifest.supportedFormatVersion {
            throw ModelError(file: "manifest.json", "format_version is \(version); this LoanScore reads format_version \(Manifest.supportedFormatVersion)")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: manifestData)
        } catch let error as DecodingError {
            throw ModelError(file: "manifest.json", "not a valid manifest: \(describe(error))")
        } catch {
            throw ModelError(file: "manifest.json", "not valid JSON")
        }
        // The name and version go into logs, responses, audit records and metric labels: a
        // control character there (a newline in a version forges a second log line) is refused.
        for (key, value) in [("model.name", manifest.model.name), ("model.version", manifest.model.version)] {
            if value.isEmpty || value.unicodeScalars.count > 128 {
                throw ModelError(file: "manifest.json", "\(key) must be 1 to 128 characters, got \(value.unicodeScalars.count)")
            }
            if let bad = value.unicodeScalars.first(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
                throw ModelError(file: "manifest.json", "\(key) contains the control character U+\(String(bad.value, radix: 16, uppercase: true)); "
                    + "names and versions are printable text (they appear in logs, responses and audit records)")
            }
        }
        self.manifest = manifest
        let files = try ModelBundle.verifyFiles(directory: directory, manifest: manifest)

        func file(_ name: String) throws -> Data {
            guard let data = files[name] else {
                throw ModelError(file: "manifest.json", "'\(name)' is referenced but not listed in 'files'")
            }
            return data
        }
        do {
            schema = try Schema.decode(try file(manifest.schema))
        } catch let error as SchemaError {
            throw ModelError(file: manifest.schema, error.message)
        }
        pipeline = try FeaturePipeline(schema: schema)
        guard pipeline.featureNames == manifest.features else {
            let produced = pipeline.featureNames
            let firstDifference = Array(zip(produced, manifest.features)).firstIndex { $0 != $1 } ?? min(produced.count, manifest.features.count)
            throw ModelError(file: "manifest.json", "'features' (\(manifest.features.count) columns) differs from what the schema produces (\(produced.count) columns), first at column \(firstDifference)")
        }
        let width = manifest.features.count
        var members: [(Manifest.Member, any EnsembleMember)] = []
        for member in manifest.members {
            let data = try file(member.file)
            switch member.kind {
            case .xgboost: members.append((member, try XGBoostModel(data: data, file: member.file, featureCount: width)))
            case .randomForest: members.append((member, try RandomForestModel(data: data, file: member.file, featureCount: width)))
            case .logisticRegression: members.append((member, try LogisticModel(data: data, file: member.file, featureCount: width)))
            }
        }
        scorer = try EnsembleScorer(manifest: manifest, pipeline: pipeline, members: members)
        if let name = manifest.reference {
            reference = try ReferenceProfile(data: try file(name), file: name, schema: schema)
        } else {
            reference = nil
        }
    }

    /// Checks that every listed file exists with its sha256 and that nothing unlisted is in
    /// the folder; returns the files' contents by relative path.
    private static func verifyFiles(directory: URL, manifest: Manifest) throws -> [String: Data] {
        var contents: [String: Data] = [:]
        for (name, expected) in manifest.files.sorted(by: { $0.key < $1.key }) {
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw ModelError(file: "manifest.json", "file path '\(name)' leaves the bundle")
            }
            let url = directory.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: url) else {
                throw ModelError(file: name, "listed in the manifest but missing")
            }
            let actual = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            guard actual == expected.lowercased() else {
                throw ModelError(file: name, "sha256 is \(actual), the manifest says \(expected)")
            }
            contents[name] = data
        }
        let present = ModelBundle.listFiles(directory)
        let unlisted = present.filter { $0 != "manifest.json" && contents[$0] == nil }
        guard unlisted.isEmpty else {
            throw ModelError(file: unlisted[0], "is in the bundle folder but not listed in the manifest's 'files'")
        }
        return contents
    }

    private static func listFiles(_ directory: URL) -> [String] {
        let base = directory.standardizedFileURL.resolvingSymlinksInPath().path
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var names: [String] = []
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = url.standardizedFileURL.resolvingSymlinksInPath().path
            guard path.hasPrefix(base + "/") else { continue }
            names.append(String(path.dropFirst(base.count + 1)))
        }
        return names.sorted()
    }

    private struct FormatProbe: Decodable {
        var formatVersion: Int
        enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
    }
}
