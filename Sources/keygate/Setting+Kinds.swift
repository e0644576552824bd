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

    /// A size in bytes, with an optional suffix (`K`, `M`, `G` for powers of 1000, `KiB`,
    /// `MiB`, `GiB` for powers of 1024), stored at `keyPath`; none by default.
    static func size(
        _ variable: String, _ keyPath: any WritableKeyPath<LaunchConfiguration, Int?> & Sendable,
        _ summary: String
    ) -> Setting {
        Setting(variable, summary: summary, defaultText: "none") { text, source, configuration in
            guard let bytes = byteCount(text), bytes > 0 else {
                throw ValidationError(
                    "\(source)='\(text)' is not a size: use a positive number of bytes, optionally followed by "
                        + "K, M, G, KiB, MiB or GiB (such as 512MiB).")
            }
            configuration[keyPath: keyPath] = bytes
        }
    }

    /// The bytes `text` names: a whole number, or a number with a unit (`1.5GiB`); `nil` when
    /// it names none or more than 2^62.
    static func byteCount(_ text: String) -> Int? {
        let units: [(String, Double)] = [
            ("kib", 1024), ("mib", 1024 * 1024), ("gib", 1024 * 1024 * 1024),
            ("k", 1000), ("m", 1_000_000), ("g", 1_000_000_000), ("kb", 1000), ("mb", 1_000_000),
            ("gb", 1_000_000_000), ("b", 1), ("", 1),
        ]
        let lowered = text.lowercased().trimmingPrefix(" ")
        let number = lowered.prefix(while: { $0.isNumber || $0 == "." })
        let unit = lowered.dropFirst(number.count).trimmingPrefix(" ")
        guard let value = Double(number), let factor = units.first(where: { $0.0 == unit })?.1 else {
            return nil
        }
        let bytes = (value * factor).rounded()
        guard bytes >= 0, bytes <= Double(1 << 62) else { return nil }
        return Int(bytes)
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
