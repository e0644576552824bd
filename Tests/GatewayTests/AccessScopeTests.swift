import Keyspace
import Testing

@testable import Gateway

@Suite("Access scopes and permissions")
struct AccessScopeTests {
    @Test func readsAnActionOnAPattern() throws {
        let scope = try Scope("read:user:*")
        #expect(scope.actions == [.read])
        #expect(scope.allows(.read, on: try Key("user:42")))
        #expect(!scope.allows(.read, on: try Key("order:1")))
        #expect(!scope.allows(.write, on: try Key("user:42")))
        #expect(scope.description == "read:user:*")
    }

    @Test func readsEveryActionOnKeysAsAStar() throws {
        let scope = try Scope("*:jobs")
        #expect(scope.actions == Set(AccessAction.onKeys))
        #expect(!scope.actions.contains(.admin))
        for action in AccessAction.onKeys {
            #expect(scope.allows(action, on: try Key("jobs")))
        }
        #expect(!scope.allows(.read, on: try Key("jobs2")))
    }

    @Test func readsAdminAloneAndGrantsNoKey() throws {
        let scope = try Scope("admin")
        #expect(scope.actions == [.admin])
        #expect(scope.pattern == nil)
        #expect(!scope.allows(.admin, on: try Key("anything")))
    }

    @Test(arguments: ["read", "read:", "admin:*", "fly:*", "", ":*", "READ:*", "read:[a"])
    func refusesAMalformedScope(_ text: String) {
        #expect(throws: Scope.Malformed.self) { try Scope(text) }
    }

    @Test func namesTheActionsInTheRefusal() {
        #expect {
            try Scope("fly:*")
        } throws: { error in
            let description = (error as? Scope.Malformed)?.description ?? ""
            return description.contains("'fly'") && description.contains("read")
        }
    }

    @Test func grantsEverythingWithoutAccessControl() throws {
        let everything = Permissions.everything
        #expect(everything.allows(.pop, on: try Key("any")))
        #expect(everything.allowsSome(.admin))
        #expect(everything.patterns(for: .subscribe) == nil)
    }

    @Test func grantsTheUnionOfItsScopes() throws {
        let permissions = Permissions(scopes: [
            try Scope("read:a:*"), try Scope("write:b:*"), try Scope("read:c"),
        ])
        #expect(permissions.allows(.read, on: try Key("a:1")))
        #expect(permissions.allows(.read, on: try Key("c")))
        #expect(permissions.allows(.write, on: try Key("b:1")))
        #expect(!permissions.allows(.write, on: try Key("a:1")))
        #expect(!permissions.allows(.pop, on: try Key("b:1")))
        #expect(permissions.allowsSome(.read))
        #expect(!permissions.allowsSome(.subscribe))
        #expect(!permissions.allowsSome(.admin))
        #expect(permissions.patterns(for: .read)?.count == 2)
        #expect(permissions.patterns(for: .subscribe)?.isEmpty == true)
    }
}
