-- wrk script for the persistence phase's set benchmark: PUT /v1/cache/bench-set:<t>:<n> with
-- the 5-byte body `hello`, where <t> numbers wrk's thread and <n> cycles through 50 000 keys per
-- thread, so the keyspace stays small while the log grows with every write.
-- Usage: wrk ... -s Benchmarks/persistence/set.lua http://127.0.0.1:PORT
local threads = 0

function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

local counter = 0
local headers = { ["Content-Type"] = "text/plain" }

function request()
    counter = counter + 1
    return wrk.format("PUT", "/v1/cache/bench-set:" .. id .. ":" .. (counter % 50000), headers, "hello")
end
