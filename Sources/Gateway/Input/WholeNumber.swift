/// Whole numbers given as query text, such as `limit`.
enum WholeNumber {
    /// `text` as a whole number in `range`: digits only.
    static func parse(_ text: String, parameter: String, in range: ClosedRange<Int>) throws(GatewayError)
        -> Int
    {
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let number = Int(text), range.contains(number)
        else {
            throw .badRequest(
                "'\(parameter)' must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return number
    }
}
