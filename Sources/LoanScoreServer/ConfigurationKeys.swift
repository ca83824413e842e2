import Foundation

extension ServerConfiguration {
    /// The first key of a configuration file that names no setting, with its dotted path and
    /// the keys known at that level, or `nil` when every key is known.
    ///
    /// The known keys are those of `configuration` encoded again: ``encode(to:)`` writes every
    /// setting (a disabled one as `null`), and a map such as `quotas.clients` comes back with
    /// the names the file gave. A key whose value is `null` is skipped (an optional setting
    /// left unset encodes as no key at all). Without this check a misspelt key (`max_bach`)
    /// would be ignored and its default used, silently.
    ///
    /// - Parameters:
    ///   - data: the file's bytes, already checked as strict JSON.
    ///   - configuration: what decoding `data` gave.
    /// - Returns: the unknown key's dotted path (`limits.max_bach`) and the sorted keys known there.
    /// - Complexity: O(n) in the file's size.
    static func unknownKey(in data: Data, decodedAs configuration: ServerConfiguration) -> (path: String, known: [String])? {
        guard let file = try? JSONSerialization.jsonObject(with: data),
              let encoded = try? JSONEncoder().encode(configuration),
              let known = try? JSONSerialization.jsonObject(with: encoded)
        else { return nil }
        return unknownKey(in: file, known: known, path: "")
    }

    private static func unknownKey(in file: Any, known: Any, path: String) -> (path: String, known: [String])? {
        guard let file = file as? [String: Any], let known = known as? [String: Any] else { return nil }
        for (key, value) in file.sorted(by: { $0.key < $1.key }) {
            let dotted = path.isEmpty ? key : "\(path).\(key)"
            guard let knownValue = known[key] else {
                if value is NSNull { continue }
                return (dotted, known.keys.sorted())
            }
            if let found = unknownKey(in: value, known: knownValue, path: dotted) { return found }
        }
        return nil
    }
}
