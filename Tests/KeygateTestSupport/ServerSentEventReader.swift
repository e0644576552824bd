import Foundation

/// Reads server-sent events from a streamed response, block by block.
package final class ServerSentEventReader {
    /// One block of the stream: an event, or a comment, or the `retry` line.
    package struct Block: Sendable, Equatable {
        /// The `id` field, if any.
        package var id: String?
        /// The `event` field, if any.
        package var event: String?
        /// The `data` field, if any.
        package var data: String?
        /// The `retry` field, if any.
        package var retry: String?
        /// Comment lines (after `:`).
        package var comments: [String] = []
    }

    private let client: TestHTTPClient
    private var text = ""
    private var isEnded = false

    /// Reads from `client`, whose response head has been read.
    package init(client: TestHTTPClient) {
        self.client = client
    }

    /// The next block; `nil` when the stream ended.
    package func next() throws -> Block? {
        while true {
            if let end = text.range(of: "\n\n") {
                let lines = text[..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
                text.removeSubrange(..<end.upperBound)
                return Self.block(from: lines)
            }
            guard !isEnded, let chunk = try client.readChunk() else {
                isEnded = true
                return nil
            }
            text += String(decoding: chunk, as: UTF8.self)
        }
    }

    /// The next block that is an event (not a comment or `retry`); `nil` when the stream ended.
    package func nextEvent() throws -> Block? {
        while let block = try next() {
            if block.event != nil || block.data != nil {
                return block
            }
        }
        return nil
    }

    private static func block(from lines: [Substring]) -> Block {
        var block = Block()
        for line in lines {
            if line.hasPrefix(":") {
                block.comments.append(String(line.dropFirst()))
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            var value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") {
                value = value.dropFirst()
            }
            switch line[..<colon] {
            case "id": block.id = String(value)
            case "event": block.event = String(value)
            case "data": block.data = String(value)
            case "retry": block.retry = String(value)
            default: break
            }
        }
        return block
    }
}
