import ArgumentParser

/// `keygate tokens`: manages the token file.
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Manage the token file of --auth-tokens.",
        subcommands: [AddTokenCommand.self])
}
