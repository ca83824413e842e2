extension ScoreBatch {
    /// An estimate of the heap bytes the batch keeps between uses (its arrays' capacities),
    /// for pools that bound what they retain. O(1).
    public var retainedBytes: Int {
        let doubles = pd.capacity + combined.capacity + confidence.capacity + probabilities.capacity
            + columns.capacity + scratch.capacity + byField.capacity + reasonContributions.capacity
        let ints = reasonFieldIndices.capacity + reasonCounts.capacity
        return doubles * MemoryLayout<Double>.stride + ints * MemoryLayout<Int>.stride
            + decision.capacity * MemoryLayout<Decision>.stride + riskLevel.capacity * MemoryLayout<String>.stride
    }
}
