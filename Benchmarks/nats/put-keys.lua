-- wrk script for the NATS phase's PUT: each connection writes its own keys, 1 000 of them in
-- turn, with the 5-byte value of the GET, so that writers do not contend for one key (on a
-- cluster, writes to one key are conditional and contending ones are tried again).
-- Usage: wrk ... -s Benchmarks/nats/put-keys.lua http://127.0.0.1:PORT
local counter = 0
local prefix

function setup(thread)
    thread:set("id", tostring(math.random(1, 1000000000)))
end

function init(args)
    prefix = "/v1/cache/bench-nats-put-" .. id .. "-"
end

function request()
    counter = (counter + 1) % 1000
    return wrk.format("PUT", prefix .. counter, { ["Content-Type"] = "text/plain" }, "hello")
end
