import ArgumentParser

extension Setting {
    /// A whole number in `range`, stored at `keyPath`.
    static func integer(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, Int> & Sendable,
        in range: ClosedRange<Int>,
        _ summary: String
    ) -> Setting {
        Setting(variable, summary: summary, defaultText: String(LaunchConfiguration()[keyPath: keyPath])) {
            text, source, configuration in
            configuration[keyPath: keyPath] = try whole(text, source: source, in: range)
        }
    }

    /// A whole number of seconds in `range`, stored at `keyPath`.
    static func seconds(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, Duration> & Sendable,
        in range: ClosedRange<Int>, _ summary: String
    ) -> Setting {
        let defaultSeconds = LaunchConfiguration()[keyPath: keyPath].components.seconds
        return Setting(variable, summary: summary, defaultText: String(defaultSeconds)) {
            text, source, configuration in
            configuration[keyPath: keyPath] = .seconds(try whole(text, source: source, in: range))
        }
    }

    /// A number in `range`, stored at `keyPath`.
    static func number(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, Double> & Sendable,
        in range: ClosedRange<Double>, _ summary: String
    ) -> Setting {
        let defaultValue = LaunchConfiguration()[keyPath: keyPath]
        return Setting(variable, summary: summary, defaultText: Self.text(of: defaultValue)) {
            text, source, configuration in
            guard let value = Double(text), range.contains(value) else {
                throw ValidationError(
                    "\(source) must be from \(Self.text(of: range.lowerBound)) to "
                        + "\(Self.text(of: range.upperBound)); got \(text).")
            }
            configuration[keyPath: keyPath] = value
        }
    }

    /// Non-empty text, stored at `keyPath`.
    static func text(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, String> & Sendable,
        _ summary: String
    ) -> Setting {
        Setting(variable, summary: summary, defaultText: LaunchConfiguration()[keyPath: keyPath]) {
            text, source, configuration in
            guard !text.isEmpty else { throw ValidationError("\(source) cannot be empty.") }
            configuration[keyPath: keyPath] = text
        }
    }

    /// The path of a file, stored at `keyPath`; none by default.
    static func file(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, String?> & Sendable,
        _ summary: String
    ) -> Setting {
        Setting(variable, summary: summary, defaultText: "none") { text, source, configuration in
            guard !text.isEmpty else { throw ValidationError("\(source) cannot be empty.") }
            configuration[keyPath: keyPath] = text
        }
    }

    /// One of a closed set of names, case-insensitively, stored at `keyPath`.
    static func choice<Value: RawRepresentable & CaseIterable & Sendable>(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, Value> & Sendable,
        _ summary: String
    ) -> Setting where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        return Setting(
            variable, summary: "\(summary) One of \(names.joined(separator: ", ")).",
            defaultText: LaunchConfiguration()[keyPath: keyPath].rawValue
        ) { text, source, configuration in
            guard let value = Value(rawValue: text.lowercased()) else {
                throw ValidationError("\(source): '\(text)' is not one of \(names.joined(separator: ", ")).")
            }
            configuration[keyPath: keyPath] = value
        }
    }

    /// A switch, stored at `keyPath`: a flag alone (or with `--no-` when `isInvertible`), and
    /// `true`, `false`, `1`, `0`, `yes`, `no`, `on` or `off` in the variable.
    static func toggle(
        _ variable: String, flag: String? = nil,
        _ keyPath: any WritableKeyPath<LaunchConfiguration, Bool> & Sendable,
        isInvertible: Bool = false, _ summary: String
    ) -> Setting {
        let isOn = LaunchConfiguration()[keyPath: keyPath]
        return Setting(
            variable, flag: flag, kind: .flag(isInvertible: isInvertible), summary: summary,
            defaultText: isOn ? "on" : "off"
        ) { text, source, configuration in
            guard let value = boolean(text) else {
                throw ValidationError("\(source)='\(text)' is not a valid value: use true or false.")
            }
            configuration[keyPath: keyPath] = value
        }
    }

    /// The text of a flag given alone.
    static func flagText(_ isOn: Bool) -> String {
        isOn ? "true" : "false"
    }

    /// A whole number in `range`, or the error naming `source`.
    static func whole(_ text: String, source: String, in range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(text) else {
            throw ValidationError("\(source)='\(text)' is not a valid value: use a whole number.")
        }
        guard range.contains(value) else {
            throw ValidationError(
                "\(source) must be from \(range.lowerBound) to \(range.upperBound); got \(value).")
        }
        return value
    }

    private static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }

    /// A number as help shows it: `2` rather than `2.0`.
    private static func text(of number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
