import ArgumentParser

/// One setting an operator can give, declared once (in `Setting+All.swift`): its flag, its
/// `KEYGATE_*` variable, how its text is read and checked, where it goes in the
/// configuration, its default and its help. A flag wins over the variable; both are read by
/// the same parser, so they accept and refuse the same text.
struct Setting: Sendable {
    /// How a flag takes its value.
    enum Kind: Sendable {
        /// `--name VALUE`.
        case option
        /// `--name VALUE`, repeatable; the variable takes a comma-separated list.
        case repeatable
        /// `--name` alone, or `--name`/`--no-name` when `isInvertible`.
        case flag(isInvertible: Bool)
    }

    /// The `KEYGATE_*` variable; empty for a setting that has none.
    let variable: String
    /// The long flag without its dashes.
    let flag: String
    /// How the flag takes its value.
    let kind: Kind
    /// What it does, for `--help`.
    let summary: String
    /// The default, as `--help` shows it.
    let defaultText: String
    /// Reads one value and stores it; `source` names where it came from, for errors.
    private let store: @Sendable (_ text: String, _ source: String, inout LaunchConfiguration) throws -> Void

    /// A setting read by `store`, named after `variable` (`KEYGATE_MAX_WAIT` is `--max-wait`)
    /// unless `flag` is given.
    init(
        _ variable: String, flag: String? = nil, kind: Kind = .option, summary: String, defaultText: String,
        store: @escaping @Sendable (String, String, inout LaunchConfiguration) throws -> Void
    ) {
        self.variable = variable
        self.flag = flag ?? variable.dropFirst("KEYGATE_".count).lowercased().replacing("_", with: "-")
        self.kind = kind
        self.summary = summary
        self.defaultText = defaultText
        self.store = store
    }

    /// The help line: what it does, its variable and default.
    var help: ArgumentHelp {
        let variablePart = variable.isEmpty ? "" : "\(variable), "
        return ArgumentHelp("\(summary) [\(variablePart)default \(defaultText)]")
    }

    /// The flag's name for ArgumentParser.
    var name: NameSpecification {
        .customLong(flag)
    }

    /// Applies the flag's value when given, else the variable's when set: `flagValues` holds
    /// what the flag was given (several for a repeatable one), empty when not given.
    func apply(
        flag flagValues: [String], environment: Environment, to configuration: inout LaunchConfiguration
    )
        throws
    {
        if !flagValues.isEmpty {
            for value in flagValues {
                try store(value, "--\(flag)", &configuration)
            }
            return
        }
        guard !variable.isEmpty, let text = environment[variable] else { return }
        switch kind {
        case .repeatable:
            for value in text.split(separator: ",") {
                try store(String(value.trimmingPrefix(" ")), variable, &configuration)
            }
        case .option, .flag:
            try store(text, variable, &configuration)
        }
    }
}
