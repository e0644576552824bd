-- wrk script for the memory phase's PUT benchmark: PUT /v1/cache/bench-memory:<run>:<t>:<n>
-- with a 32-byte body, where <run> is the second the run started, <t> numbers wrk's thread and
-- <n> counts its requests: every write stores a new key, on the server with a limit (where it
-- evicts one) as on the one without (where it only grows), so that the two differ by the
-- eviction alone.
-- Usage: wrk ... -s Benchmarks/memory/put.lua http://127.0.0.1:PORT
local threads = 0

function setup(thread)
    thread:set("id", os.time() .. ":" .. threads)
    threads = threads + 1
end

local counter = 0
local headers = { ["Content-Type"] = "application/octet-stream" }
local body = string.rep("v", 32)

function request()
    counter = counter + 1
    return wrk.format("PUT", "/v1/cache/bench-memory:" .. id .. ":" .. counter, headers, body)
end
