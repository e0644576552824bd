import ArgumentParser
import FoundationEssentials
import Gateway

/// `keygate tokens add --file PATH --name NAME --scope SCOPE…`: makes a random token, prints
/// it once, and adds its digest to the token file (created, readable by its owner only).
struct AddTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Make a token, print it once, and add its SHA-256 to the token file.",
        discussion: """
            A scope is ACTION:PATTERN, ACTION one of read, write, push, pop, subscribe or * (all of \\
            those), PATTERN a Redis glob over keys and queue names (user:*, jobs); or admin alone, \\
            which grants /metrics. The running server reads the file again on SIGHUP.
            """)

    @Option(help: "The token file, created (mode 0600) if missing.")
    var file: String

    @Option(help: "The token's name, shown in the access log and metrics, never the token.")
    var name: String

    @Option(help: "A scope to grant; repeat for more.")
    var scope: [String] = []

    mutating func run() throws {
        guard !scope.isEmpty else { throw ValidationError("Give at least one --scope.") }
        guard !name.isEmpty else { throw ValidationError("--name cannot be empty.") }
        let scopes = try scope.map { text in
            do throws(Scope.Malformed) {
                return try Scope(text)
            } catch {
                throw ValidationError("--scope \(error.description)")
            }
        }
        var tokens = try existingFile()
        let token = AccessControl.randomToken()
        do throws(TokenFile.Invalid) {
            try tokens.add(Token(name: name, digest: TokenDigest(of: token), scopes: scopes))
        } catch {
            throw ValidationError("\(file): \(error.description).")
        }
        try tokens.write(to: file)
        // The token goes to the standard output alone, so that a script can take it; it is
        // shown this once, and only its digest is kept.
        print(token)
    }

    /// The file's tokens, or none when it does not exist yet.
    private func existingFile() throws -> TokenFile {
        guard FileManager.default.fileExists(atPath: file) else { return TokenFile() }
        return try TokenFile(contentsOf: file)
    }
}
