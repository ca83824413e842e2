/// Why an LZ4 block could not be compressed or decompressed.
///
/// Match on ``code``; equality compares codes only. The ``description`` names the sizes
/// involved, so a log line or an ERROR frame can carry it as is.
public struct CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case inputTooLarge, declaredSizeOverLimit, declaredSizeImpossible, corruptInput, sizeMismatch, corruptFrame, outputOverLimit
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The input to compress is larger than LZ4 accepts (`LZ4_MAX_INPUT_SIZE`, ~2 GiB).
        public static let inputTooLarge = Code(.inputTooLarge)
        /// The declared decompressed size is above the configured limit.
        public static let declaredSizeOverLimit = Code(.declaredSizeOverLimit)
        /// The declared decompressed size cannot come from this many compressed bytes
        /// (more than 255 × the compressed size, or negative), or is non-zero for empty input.
        public static let declaredSizeImpossible = Code(.declaredSizeImpossible)
        /// `LZ4_decompress_safe` refused the block: corrupt, truncated, or writing past the
        /// declared size.
        public static let corruptInput = Code(.corruptInput)
        /// The block decoded cleanly but to fewer bytes than declared.
        public static let sizeMismatch = Code(.sizeMismatch)
        /// An LZ4 *frame* (``LZ4Frame``) is corrupt, truncated or fails its checksum.
        public static let corruptFrame = Code(.corruptFrame)
        /// An LZ4 frame expands to more than the caller's limit.
        public static let outputOverLimit = Code(.outputOverLimit)

        public var description: String {
            switch base {
            case .inputTooLarge: return "inputTooLarge"
            case .declaredSizeOverLimit: return "declaredSizeOverLimit"
            case .declaredSizeImpossible: return "declaredSizeImpossible"
            case .corruptInput: return "corruptInput"
            case .sizeMismatch: return "sizeMismatch"
            case .corruptFrame: return "corruptFrame"
            case .outputOverLimit: return "outputOverLimit"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence naming the sizes involved.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "LZ4 \(code): \(message)" }

    public static func == (lhs: CompressionError, rhs: CompressionError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
