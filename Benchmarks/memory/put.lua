-- wrk script for the memory phase's PUT benchmark: PUT /v1/cache/bench-memory:<t>:<n> with a
-- 32-byte body, where <t> numbers wrk's thread and <n> cycles through 200 000 keys per thread:
-- far more than a small --max-memory holds, so that there every write evicts.
-- Usage: wrk ... -s Benchmarks/memory/put.lua http://127.0.0.1:PORT
local threads = 0

function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

local counter = 0
local headers = { ["Content-Type"] = "text/plain" }
local body = string.rep("v", 32)

function request()
    counter = counter + 1
    return wrk.format("PUT", "/v1/cache/bench-memory:" .. id .. ":" .. (counter % 200000), headers, body)
end
