/// Why one value was refused, as the end of a sentence: "expected a whole number 1-256".
///
/// The resolver adds the key, the value and its source, so each setting only says what it expects.
struct SettingRefusal: Error {
    var expected: String
    init(_ expected: String) { self.expected = expected }
}
