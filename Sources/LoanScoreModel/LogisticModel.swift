public import Foundation

/// A scikit-learn `Pipeline(SimpleImputer, StandardScaler, LogisticRegression)` in
/// LoanScore's format (`loanscore-logistic/1`, BUNDLE.md), evaluated in float64: NaN is
/// replaced by the imputed value, `z = (x - mean) / scale`, margin = intercept + coef · z,
/// probability = `1 / (1 + exp(-margin))` (scikit-learn `_predict_proba_lr`, SciPy `expit`).
public struct LogisticModel: EnsembleMember {
    public let featureCount: Int
    private let impute: [Double]
    private let mean: [Double]
    private let scale: [Double]
    private let coefficients: [Double]
    private let intercept: Double

    /// Parses a `loanscore-logistic/1` file.
    ///
    /// - Throws: ``ModelError`` for malformed JSON, another format, vectors whose length is not
    ///   `featureCount`, non-finite numbers or a zero scale.
    public init(data: Data, file: String, featureCount: Int) throws {
        let json: LogisticJSON
        do {
            json = try JSONDecoder().decode(LogisticJSON.self, from: data)
        } catch {
            throw ModelError(file: file, "not a LoanScore logistic file: \(error)")
        }
        guard json.format == "loanscore-logistic/1" else {
            throw ModelError(file: file, "format is '\(json.format)', expected 'loanscore-logistic/1'")
        }
        let vectors = [("imputation.values", json.imputation.values), ("scaling.mean", json.scaling.mean),
                       ("scaling.scale", json.scaling.scale), ("coefficients", json.coefficients)]
        for (name, vector) in vectors {
            guard vector.count == featureCount else {
                throw ModelError(file: file, "\(name) has \(vector.count) values; the bundle lists \(featureCount) features")
            }
            guard vector.allSatisfy(\.isFinite) else { throw ModelError(file: file, "\(name) holds a non-finite number") }
        }
        guard json.nFeatures == featureCount else {
            throw ModelError(file: file, "n_features is \(json.nFeatures); the bundle lists \(featureCount)")
        }
        guard json.scaling.scale.allSatisfy({ $0 != 0 }) else { throw ModelError(file: file, "scaling.scale holds a zero") }
        guard json.intercept.isFinite else { throw ModelError(file: file, "intercept is not finite") }
        self.featureCount = featureCount
        impute = json.imputation.values
        mean = json.scaling.mean
        scale = json.scaling.scale
        coefficients = json.coefficients
        intercept = json.intercept
    }

    public var contributionUnits: ContributionUnits { .margin }

    /// The logit of one row (float64).
    public func margin(_ row: UnsafeBufferPointer<Double>) -> Double {
        var sum = 0.0
        for j in 0..<featureCount {
            let x = row[j].isNaN ? impute[j] : row[j]
            sum += coefficients[j] * ((x - mean[j]) / scale[j])
        }
        return sum + intercept
    }

    /// Probabilities `1 / (1 + exp(-margin))`; contributions `coefficient × z` (margin units).
    public func evaluate(_ batch: FeatureBatch, probabilities: UnsafeMutableBufferPointer<Double>,
                         contributions: UnsafeMutableBufferPointer<Double>?) {
        precondition(batch.width == featureCount && probabilities.count >= batch.rows, "batch shape")
        for r in 0..<batch.rows {
            let row = UnsafeBufferPointer(rebasing: batch.doubles[(r * featureCount)..<((r + 1) * featureCount)])
            probabilities[r] = 1 / (1 + Foundation.exp(-margin(row)))
            if let contributions {
                for j in 0..<featureCount {
                    let x = row[j].isNaN ? impute[j] : row[j]
                    contributions[r * featureCount + j] += coefficients[j] * ((x - mean[j]) / scale[j])
                }
            }
        }
    }
}

private struct LogisticJSON: Decodable {
    var format: String
    var nFeatures: Int
    var imputation: Imputation
    var scaling: Scaling
    var coefficients: [Double]
    var intercept: Double
    enum CodingKeys: String, CodingKey { case format, imputation, scaling, coefficients, intercept, nFeatures = "n_features" }
    struct Imputation: Decodable { var strategy: String?; var values: [Double] }
    struct Scaling: Decodable { var mean: [Double]; var scale: [Double] }
}
