-- wrk script for the PUT benchmark: every request stores the same 5-byte value, the body size
-- of the GET reference, so each request after the first replaces the key (204 No Content).
-- Usage: wrk ... -s Benchmarks/wrk/put.lua http://127.0.0.1:PORT/v1/cache/KEY
wrk.method = "PUT"
wrk.body = "hello"
wrk.headers["Content-Type"] = "text/plain"
