-- wrk script for the persistence phase's push benchmark: every request appends the 5-byte
-- message `hello` to the queue bench-push (201 Created), which nothing pops.
-- Usage: wrk ... -s Benchmarks/persistence/push.lua http://127.0.0.1:PORT/v1/queues/bench-push
wrk.method = "POST"
wrk.body = "hello"
wrk.headers["Content-Type"] = "text/plain"
