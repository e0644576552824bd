import FoundationEssentials
import Glibc

/// The token file: `{"tokens":[{"name","sha256","scopes":[…]}]}`, the names and digests of
/// the tokens a server accepts, with their scopes. Only digests are stored, never tokens.
package struct TokenFile: Sendable, Equatable {
    /// Why a token file cannot be used; its description names the file and the problem.
    package struct Failure: Error, Equatable, CustomStringConvertible {
        /// The file.
        package let path: String
        /// What is wrong with it.
        package let reason: String

        /// The file and the problem, for an operator.
        package var description: String {
            "The token file \(path) cannot be used: \(reason)"
        }
    }

    /// What is wrong with a token file's contents, or with a token added to it.
    package struct Invalid: Error, Equatable, CustomStringConvertible {
        /// What is wrong.
        package let description: String

        /// The problem `description`.
        package init(_ description: String) {
            self.description = description
        }
    }

    /// The tokens, in the file's order.
    package private(set) var tokens: [Token]

    /// The tokens of a file with no token yet.
    package init() {
        tokens = []
    }

    /// Reads and checks the file at `path`. O(size).
    package init(contentsOf path: String) throws(Failure) {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason =
                FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "it does not exist"
            throw Failure(path: path, reason: reason)
        }
        do {
            tokens = try Self.tokens(in: Array(data))
        } catch {
            throw Failure(path: path, reason: error.description)
        }
    }

    /// Adds a token; its name and digest must be new.
    package mutating func add(_ token: Token) throws(Invalid) {
        guard !tokens.contains(where: { $0.name == token.name }) else {
            throw Invalid("a token named '\(token.name)' is already in the file")
        }
        guard !tokens.contains(where: { $0.digest == token.digest }) else {
            throw Invalid("this token is already in the file")
        }
        tokens.append(token)
    }

    /// The file's text: one token per line, so that it reads and diffs well.
    package var text: String {
        let lines = tokens.map { token in
            let scopes = JSONValue.array(token.scopes.map { .string($0.description) }).text
            return
                #"    {"name":\#(JSONValue.string(token.name).text),"sha256":"\#(token.digest)","scopes":\#(scopes)}"#
        }
        return "{\"tokens\":[\n" + lines.joined(separator: ",\n") + "\n]}\n"
    }

    /// Writes the file at `path`, readable by its owner only (mode 0600), replacing it whole:
    /// written aside, then renamed over it.
    package func write(to path: String) throws(Failure) {
        let aside = path + ".tmp"
        let bytes = Array(text.utf8)
        let descriptor = open(aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(path: path, reason: Self.explain("open", aside)) }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let isSynced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, isSynced else {
            let reason = Self.explain("write", aside)
            unlink(aside)
            throw Failure(path: path, reason: reason)
        }
        guard rename(aside, path) == 0 else {
            let reason = Self.explain("rename", path)
            unlink(aside)
            throw Failure(path: path, reason: reason)
        }
    }

    /// The tokens of a file's bytes, checked: every member known, names and digests unique.
    private static func tokens(in bytes: [UInt8]) throws(Invalid) -> [Token] {
        guard case .object(let top)? = JSONValue.parse(bytes) else {
            throw Invalid(#"it is not JSON of the form {"tokens":[{"name","sha256","scopes"}]}"#)
        }
        guard top.count == 1, case .array(let entries)? = top["tokens"] else {
            throw Invalid(#"its only member must be "tokens", an array"#)
        }
        var file = TokenFile()
        for (index, entry) in entries.enumerated() {
            try file.add(token(entry, at: index))
        }
        return file.tokens
    }

    /// The token of one entry of the array; `index` names it in errors.
    private static func token(_ entry: JSONValue, at index: Int) throws(Invalid) -> Token {
        let place = "token \(index + 1)"
        guard case .object(let members) = entry else {
            throw Invalid("\(place) is not an object")
        }
        if let unknown = Set(members.keys).subtracting(["name", "sha256", "scopes"]).sorted().first {
            throw Invalid("\(place) has an unknown member '\(unknown)'")
        }
        guard case .string(let name)? = members["name"], !name.isEmpty else {
            throw Invalid("\(place) needs a \"name\", a non-empty string")
        }
        guard case .string(let hex)? = members["sha256"], let digest = TokenDigest(hex: hex) else {
            throw Invalid("'\(name)' needs a \"sha256\": the 64 hexadecimal digits of its token's SHA-256")
        }
        guard case .array(let texts)? = members["scopes"], !texts.isEmpty else {
            throw Invalid("'\(name)' needs \"scopes\", a non-empty array of scopes")
        }
        var scopes: [Scope] = []
        for text in texts {
            guard case .string(let scope) = text else {
                throw Invalid("'\(name)' has a scope that is not a string")
            }
            do {
                scopes.append(try Scope(scope))
            } catch {
                throw Invalid("'\(name)': \(error.description)")
            }
        }
        return Token(name: name, digest: digest, scopes: scopes)
    }

    private static func explain(_ function: String, _ path: String) -> String {
        "\(function)(\(path)) failed: \(String(cString: strerror(errno)))"
    }
}
