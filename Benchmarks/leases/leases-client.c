/*
 * The leases benchmark's client: reliable consumption on Keygate (a leased receive, then its
 * acknowledgement) against Keygate's plain pop and Redis Streams (XREADGROUP, then XACK), and
 * how late a message comes back once its lease ends. Loopback only.
 *
 * Usage:
 *   leases-client preload MODE PORT MESSAGES QUEUE
 *       Stores MESSAGES messages of 5 bytes in QUEUE for MODE (below): pipelined pushes, or
 *       XADDs and the consumer group. Run apart, so that the server's CPU time can be read
 *       around the consumption alone.
 *   leases-client throughput MODE PORT CONNECTIONS SECONDS QUEUE
 *       MODE is `pop` (Keygate: POST /v1/queues/QUEUE/pop), `lease` (Keygate: POST
 *       /v1/queues/QUEUE/receive, then DELETE /v1/queues/QUEUE/leases/RECEIPT) or `streams`
 *       (Redis: XREADGROUP GROUP g c<n> COUNT 1 STREAMS QUEUE >, then XACK QUEUE g ID).
 *       Consumes what `preload` stored on CONNECTIONS connections, each one request at a
 *       time, for SECONDS, in one epoll loop (so the client costs the same little CPU for
 *       every mode). Prints
 *       `consumed=… seconds=… rate=… dry=…`: messages consumed (popped, or received and
 *       acknowledged) per second, and the answers that found the queue empty (0 unless
 *       preload stored too few).
 *   leases-client redelivery PORT SAMPLES VISIBILITY_MS
 *       For each sample, on a queue of its own: pushes a message, receives it on a lease of
 *       VISIBILITY_MS (plus a few ms that vary, so the leases end at every phase of a
 *       millisecond), and parks a second receive (wait=10) that takes the message when the lease
 *       ends. Runs the samples 25 at a time. Prints the lateness of the second receive's answer
 *       after the first lease's end (`visibleUntil`, the server's wall-clock milliseconds), read
 *       on the client's wall clock: `samples=… lateness_p50_ms=… lateness_p99_ms=… …`.
 *   leases-client delay PORT SAMPLES DELAY_MS
 *       For each sample, on a queue of its own: parks a receive (wait=10), then pushes a message
 *       with delay=DELAY_MS; the receive takes it when the delay ends. The server's moment is its
 *       clock's millisecond when it stored the push (read between the push's sending and its
 *       answer) plus the delay: a sample whose push was sent and answered in two different
 *       milliseconds, whose moment is then uncertain by one, is left out (`skipped=`). Prints
 *       the lateness of the receive's answer after that moment, as `redelivery` does.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <unistd.h>

#include "../common/client.h"

enum {
    BUFFER_CAPACITY = 1 << 16, /* answers of one connection not parsed yet */
    REQUEST_CAPACITY = 512,
    MAX_CONNECTIONS = 256,
    PRELOAD_DEPTH = 128, /* pipelined pushes in flight while storing the messages */
    RECEIPT_CAPACITY = 64,
    BATCH = 25, /* redelivery samples at a time */
};

enum mode { POP, LEASE, STREAMS };
enum step { TAKING, ACKNOWLEDGING };

/* One consuming connection: the answers it has not parsed yet, and what it awaits. */
struct connection {
    int fd;
    enum step step;
    size_t length;
    char buffer[BUFFER_CAPACITY];
    char receipt[RECEIPT_CAPACITY]; /* the lease or stream entry to acknowledge */
    int number;
};

static const char *queue_name;
static int port;

/* --- Reading answers --------------------------------------------------------------------- */

/* The length of the complete HTTP answer at the start of BUFFER, or 0; its status and body. */
static size_t
http_answer(const char *buffer, size_t length, int *status, const char **body, size_t *body_length)
{
    const char *end = memmem(buffer, length, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    size_t head_length = (size_t) (end - buffer) + 4;
    const char *content_length = header_value(buffer, head_length, "Content-Length");
    size_t size = content_length == NULL ? 0 : strtoul(content_length, NULL, 10);
    if (length < head_length + size)
        return 0;
    if (head_length < 12 || memcmp(buffer, "HTTP/1.1 ", 9) != 0)
        failf("not an HTTP answer: %.40s", buffer);
    *status = atoi(buffer + 9);
    *body = buffer + head_length;
    *body_length = size;
    return head_length + size;
}

/* The end of the RESP value at P (before END), or NULL when it is not complete. */
static const char *
resp_skip(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    const char *line_end = memmem(p, (size_t) (end - p), "\r\n", 2);
    if (line_end == NULL)
        return NULL;
    long count = strtol(p + 1, NULL, 10);
    switch (*p) {
    case '+':
    case '-':
    case ':':
    case '_':
        return line_end + 2;
    case '$':
        if (count < 0)
            return line_end + 2;
        return line_end + 2 + count + 2 <= end ? line_end + 2 + count + 2 : NULL;
    case '*':
        p = line_end + 2;
        for (long index = 0; index < count; index++)
            if ((p = resp_skip(p, end)) == NULL)
                return NULL;
        return p;
    default:
        failf("not a RESP value: %.40s", p);
    }
}

/* The bulk string at *P, copied into OUT (CAPACITY bytes); advances *P past it. */
static void
resp_bulk(const char **p, char *out, size_t capacity)
{
    if (**p != '$')
        failf("expected a bulk string: %.40s", *p);
    long length = strtol(*p + 1, NULL, 10);
    const char *data = strstr(*p, "\r\n") + 2;
    if (length < 0 || (size_t) length >= capacity)
        failf("a bulk string of %ld bytes", length);
    memcpy(out, data, (size_t) length);
    out[length] = '\0';
    *p = data + length + 2;
}

/* Skips the array header "*N\r\n" at *P, checking N. */
static void
resp_array(const char **p, long expected)
{
    if (**p != '*' || strtol(*p + 1, NULL, 10) != expected)
        failf("expected an array of %ld: %.60s", expected, *p);
    *p = strstr(*p, "\r\n") + 2;
}

/* --- Requests ---------------------------------------------------------------------------- */

static void
send_text(int fd, const char *text)
{
    send_all(fd, text, strlen(text));
}

/* A RESP command of ARGUMENTS (NULL-terminated), written into OUT. */
static size_t
resp_command(char *out, size_t capacity, const char *const *arguments)
{
    size_t count = 0, used = 0;
    while (arguments[count] != NULL)
        count++;
    used += (size_t) snprintf(out + used, capacity - used, "*%zu\r\n", count);
    for (size_t index = 0; index < count; index++)
        used += (size_t) snprintf(out + used, capacity - used, "$%zu\r\n%s\r\n", strlen(arguments[index]),
                                  arguments[index]);
    if (used >= capacity)
        failf("a command too long");
    return used;
}

static void
send_take(struct connection *connection, enum mode mode)
{
    char request[REQUEST_CAPACITY];
    connection->step = TAKING;
    if (mode == STREAMS) {
        char consumer[32];
        snprintf(consumer, sizeof consumer, "c%d", connection->number);
        const char *arguments[] = { "XREADGROUP", "GROUP", "g", consumer, "COUNT", "1", "STREAMS", queue_name,
                                    ">", NULL };
        send_all(connection->fd, request, resp_command(request, sizeof request, arguments));
        return;
    }
    snprintf(request, sizeof request,
             "POST /v1/queues/%s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", queue_name,
             mode == POP ? "pop" : "receive");
    send_text(connection->fd, request);
}

static void
send_acknowledgement(struct connection *connection, enum mode mode)
{
    char request[REQUEST_CAPACITY];
    connection->step = ACKNOWLEDGING;
    if (mode == STREAMS) {
        const char *arguments[] = { "XACK", queue_name, "g", connection->receipt, NULL };
        send_all(connection->fd, request, resp_command(request, sizeof request, arguments));
        return;
    }
    snprintf(request, sizeof request, "DELETE /v1/queues/%s/leases/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
             queue_name, connection->receipt);
    send_text(connection->fd, request);
}

/* Copies the string member NAME of the JSON text BODY into OUT. */
static void
json_string(const char *body, size_t length, const char *name, char *out, size_t capacity)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", name);
    const char *found = memmem(body, length, pattern, strlen(pattern));
    if (found == NULL)
        failf("no %s in %.*s", name, (int) length, body);
    found += strlen(pattern);
    const char *end = memchr(found, '"', length - (size_t) (found - body));
    if (end == NULL || (size_t) (end - found) >= capacity)
        failf("a bad %s in %.*s", name, (int) length, body);
    memcpy(out, found, (size_t) (end - found));
    out[end - found] = '\0';
}

/* The number member NAME of the JSON text BODY. */
static long long
json_number(const char *body, size_t length, const char *name)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *found = memmem(body, length, pattern, strlen(pattern));
    if (found == NULL)
        failf("no %s in %.*s", name, (int) length, body);
    return strtoll(found + strlen(pattern), NULL, 10);
}

/* --- Storing the messages ---------------------------------------------------------------- */

/* Stores MESSAGES messages in the queue, PRELOAD_DEPTH requests in flight on one connection. */
static void
preload(enum mode mode, long messages)
{
    int fd = connect_to(port);
    char request[REQUEST_CAPACITY];
    size_t request_length;
    if (mode == STREAMS) {
        const char *remove[] = { "DEL", queue_name, NULL };
        send_all(fd, request, resp_command(request, sizeof request, remove));
        const char *add[] = { "XADD", queue_name, "*", "m", "hello", NULL };
        request_length = resp_command(request, sizeof request, add);
    } else {
        request_length = (size_t) snprintf(request, sizeof request,
                                           "POST /v1/queues/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Content-Length: 5\r\n\r\nhello",
                                           queue_name);
    }
    long sent = 0, answered = 0, expected = messages + (mode == STREAMS ? 1 : 0);
    static char buffer[BUFFER_CAPACITY];
    size_t length = 0;
    while (answered < expected) {
        while (sent < messages && sent - answered < PRELOAD_DEPTH) {
            send_all(fd, request, request_length);
            sent++;
        }
        ssize_t count = recv(fd, buffer + length, sizeof buffer - length, 0);
        if (count <= 0)
            fail("recv while storing the messages");
        length += (size_t) count;
        size_t used = 0;
        for (;;) {
            size_t taken;
            if (mode == STREAMS) {
                const char *end = resp_skip(buffer + used, buffer + length);
                if (end == NULL)
                    break;
                if (buffer[used] == '-')
                    failf("Redis refused a write: %.80s", buffer + used);
                taken = (size_t) (end - (buffer + used));
            } else {
                int status;
                const char *body;
                size_t body_length;
                taken = http_answer(buffer + used, length - used, &status, &body, &body_length);
                if (taken == 0)
                    break;
                if (status != 201)
                    failf("a push was answered %d", status);
            }
            used += taken;
            answered++;
        }
        memmove(buffer, buffer + used, length - used);
        length -= used;
    }
    if (mode == STREAMS) {
        const char *group[] = { "XGROUP", "CREATE", queue_name, "g", "0", NULL };
        send_all(fd, request, resp_command(request, sizeof request, group));
        char reply[64] = { 0 };
        if (recv(fd, reply, sizeof reply - 1, 0) <= 0 || strncmp(reply, "+OK", 3) != 0)
            failf("XGROUP CREATE answered %s", reply);
    }
    close(fd);
}

/* --- Throughput -------------------------------------------------------------------------- */

static void
throughput(enum mode mode, int connections, double seconds)
{
    static struct connection pool[MAX_CONNECTIONS];
    int epoll = epoll_create1(0);
    if (epoll < 0)
        fail("epoll_create1");
    for (int index = 0; index < connections; index++) {
        pool[index].fd = add_to_epoll(epoll, connect_to(port), (uint32_t) index);
        pool[index].number = index;
        pool[index].length = 0;
    }
    long consumed = 0, dry = 0;
    int64_t started = monotonic_us();
    int64_t deadline = started + (int64_t) (seconds * 1e6);
    for (int index = 0; index < connections; index++)
        send_take(&pool[index], mode);
    int busy = connections;
    struct epoll_event events[64];
    while (busy > 0) {
        int ready = epoll_wait(epoll, events, 64, 1000);
        if (ready < 0 && errno != EINTR)
            fail("epoll_wait");
        bool running = monotonic_us() < deadline;
        for (int event = 0; event < ready; event++) {
            struct connection *connection = &pool[events[event].data.u32];
            ssize_t count = recv(connection->fd, connection->buffer + connection->length,
                                 BUFFER_CAPACITY - connection->length, MSG_DONTWAIT);
            if (count <= 0)
                fail("recv");
            connection->length += (size_t) count;
            size_t taken;
            if (mode == STREAMS) {
                const char *end = resp_skip(connection->buffer, connection->buffer + connection->length);
                if (end == NULL)
                    continue;
                taken = (size_t) (end - connection->buffer);
                const char *reply = connection->buffer;
                if (*reply == '-')
                    failf("Redis answered %.80s", reply);
                if (connection->step == TAKING) {
                    if (reply[1] == '-' || *reply == '_') {
                        dry++;
                    } else {
                        char stream[128];
                        resp_array(&reply, 1);
                        resp_array(&reply, 2);
                        resp_bulk(&reply, stream, sizeof stream);
                        resp_array(&reply, 1);
                        resp_array(&reply, 2);
                        resp_bulk(&reply, connection->receipt, sizeof connection->receipt);
                    }
                } else if (strncmp(reply, ":1", 2) != 0) {
                    failf("XACK answered %.20s", reply);
                } else {
                    consumed++;
                }
            } else {
                int status;
                const char *body;
                size_t body_length;
                taken = http_answer(connection->buffer, connection->length, &status, &body, &body_length);
                if (taken == 0)
                    continue;
                if (connection->step == TAKING) {
                    if (status == 204)
                        dry++;
                    else if (status != 200)
                        failf("a %s was answered %d", mode == POP ? "pop" : "receive", status);
                    else if (mode == POP)
                        consumed++;
                    else
                        json_string(body, body_length, "receipt", connection->receipt, sizeof connection->receipt);
                } else if (status != 204) {
                    failf("an acknowledgement was answered %d", status);
                } else {
                    consumed++;
                }
            }
            bool took = connection->step == TAKING && mode != POP && connection->receipt[0] != '\0';
            memmove(connection->buffer, connection->buffer + taken, connection->length - taken);
            connection->length -= taken;
            if (took) {
                // The acknowledgement goes out even past the deadline: a lease is never left.
                send_acknowledgement(connection, mode);
                connection->receipt[0] = '\0';
            } else if (running) {
                send_take(connection, mode);
            } else {
                busy--;
            }
        }
    }
    double elapsed = (double) (monotonic_us() - started) / 1e6;
    printf("consumed=%ld seconds=%.3f rate=%.0f dry=%ld\n", consumed, elapsed, (double) consumed / elapsed, dry);
}

/* --- Redelivery lateness ----------------------------------------------------------------- */

/* Sends REQUEST on FD and reads its answer into BODY (CAPACITY bytes); its status. */
static int
exchange(int fd, const char *request, char *body, size_t capacity)
{
    send_text(fd, request);
    static char buffer[BUFFER_CAPACITY];
    size_t length = 0;
    for (;;) {
        ssize_t count = recv(fd, buffer + length, sizeof buffer - length, 0);
        if (count <= 0)
            fail("recv");
        length += (size_t) count;
        int status;
        const char *answer;
        size_t answer_length;
        if (http_answer(buffer, length, &status, &answer, &answer_length) > 0) {
            size_t copied = answer_length < capacity - 1 ? answer_length : capacity - 1;
            memcpy(body, answer, copied);
            body[copied] = '\0';
            return status;
        }
    }
}

/* What becomes visible in a lateness run: a message whose lease ends, or a delayed message. */
enum moment { LEASE_END, DELAY_END };

/* Prepares sample SAMPLE of a lateness run on its own queue, and parks a receive for it on a
 * new connection added to EPOLL as INDEX; returns that connection, and the moment the message
 * becomes visible (Unix microseconds) in *DUE, or -1 when it is uncertain. */
static int
prepare_sample(enum moment kind, int control, int epoll, long long run, int sample, int index, int milliseconds,
               int64_t *due)
{
    char request[REQUEST_CAPACITY], body[8192];
    char queue[96];
    snprintf(queue, sizeof queue, "bench-%s-%lld-%d", kind == LEASE_END ? "redeliver" : "delay", run, sample);
    const char *parked_format = "POST /v1/queues/%s/receive?wait=10&visibility=600 HTTP/1.1\r\n"
                                "Host: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    if (kind == DELAY_END) {
        int waiting = add_to_epoll(epoll, connect_to(port), (uint32_t) index);
        snprintf(request, sizeof request, parked_format, queue);
        send_text(waiting, request);
        snprintf(request, sizeof request,
                 "POST /v1/queues/%s?delay=%.3f HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\njob", queue,
                 milliseconds / 1e3);
        int64_t sent = unix_us();
        if (exchange(control, request, body, sizeof body) != 201)
            failf("a delayed push failed: %s", body);
        int64_t answered = unix_us();
        // The server stored it at its clock's millisecond, between these two readings.
        *due = sent / 1000 == answered / 1000 ? (sent / 1000 + milliseconds) * 1000 : -1;
        return waiting;
    }
    snprintf(request, sizeof request,
             "POST /v1/queues/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\njob", queue);
    if (exchange(control, request, body, sizeof body) != 201)
        failf("a push failed: %s", body);
    // Leases of every length modulo a millisecond's phase: 0 to 6.3 ms more than asked.
    snprintf(request, sizeof request,
             "POST /v1/queues/%s/receive?visibility=%.4f HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
             queue, milliseconds / 1e3 + (sample % 64) * 0.0001);
    if (exchange(control, request, body, sizeof body) != 200)
        failf("a receive failed: %s", body);
    *due = json_number(body, strlen(body), "visibleUntil") * 1000;
    int waiting = add_to_epoll(epoll, connect_to(port), (uint32_t) index);
    snprintf(request, sizeof request, parked_format, queue);
    send_text(waiting, request);
    return waiting;
}

/* The lateness of SAMPLES messages becoming visible after MILLISECONDS (a lease's end or a
 * delay's), each taken by a receive parked for it, BATCH at a time. */
static void
lateness_run(enum moment kind, int samples, int milliseconds)
{
    struct histogram lateness;
    histogram_init(&lateness);
    int control = connect_to(port);
    int epoll = epoll_create1(0);
    if (epoll < 0)
        fail("epoll_create1");
    long long run = unix_us();
    int skipped = 0;
    for (int first = 0; first < samples; first += BATCH) {
        int count = samples - first < BATCH ? samples - first : BATCH;
        int waiting[BATCH];
        int64_t due[BATCH];
        for (int index = 0; index < count; index++)
            waiting[index] = prepare_sample(kind, control, epoll, run, first + index, index, milliseconds, &due[index]);
        int answered = 0;
        static char buffers[BATCH][4096];
        size_t lengths[BATCH] = { 0 };
        while (answered < count) {
            struct epoll_event events[BATCH];
            int ready = epoll_wait(epoll, events, BATCH, 15000);
            if (ready <= 0)
                failf("no message became visible within 15 s");
            int64_t arrived = unix_us();
            for (int event = 0; event < ready; event++) {
                int index = (int) events[event].data.u32;
                ssize_t got = recv(waiting[index], buffers[index] + lengths[index],
                                   sizeof buffers[index] - 1 - lengths[index], MSG_DONTWAIT);
                if (got <= 0)
                    fail("recv of a parked receive's answer");
                lengths[index] += (size_t) got;
                int status;
                const char *answer;
                size_t answer_length;
                if (http_answer(buffers[index], lengths[index], &status, &answer, &answer_length) == 0)
                    continue;
                long long attempts = kind == LEASE_END ? 2 : 1;
                if (status != 200 || json_number(answer, answer_length, "attempts") != attempts)
                    failf("the parked receive was answered %d: %.*s", status, (int) answer_length, answer);
                if (due[index] >= 0)
                    histogram_add(&lateness, arrived - due[index]);
                else
                    skipped++;
                epoll_ctl(epoll, EPOLL_CTL_DEL, waiting[index], NULL);
                close(waiting[index]);
                lengths[index] = 0;
                answered++;
            }
        }
    }
    close(control);
    printf("samples=%d skipped=%d milliseconds=%d", samples - skipped, skipped, milliseconds);
    print_histogram("lateness", &lateness);
    printf(" lateness_min_ms=%.2f\n", (double) lateness.minimum_us / 1e3);
}

static enum mode
mode_named(const char *name)
{
    if (strcmp(name, "pop") == 0)
        return POP;
    if (strcmp(name, "lease") == 0)
        return LEASE;
    if (strcmp(name, "streams") == 0)
        return STREAMS;
    failf("unknown mode %s", name);
}

int
main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "preload") == 0) {
        port = atoi(argv[3]);
        queue_name = argv[5];
        preload(mode_named(argv[2]), atol(argv[4]));
        printf("stored=%ld\n", atol(argv[4]));
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "throughput") == 0) {
        port = atoi(argv[3]);
        int connections = atoi(argv[4]);
        if (connections < 1 || connections > MAX_CONNECTIONS)
            failf("1 to %d connections", MAX_CONNECTIONS);
        queue_name = argv[6];
        throughput(mode_named(argv[2]), connections, atof(argv[5]));
        return 0;
    }
    if (argc == 5 && (strcmp(argv[1], "redelivery") == 0 || strcmp(argv[1], "delay") == 0)) {
        port = atoi(argv[2]);
        lateness_run(strcmp(argv[1], "delay") == 0 ? DELAY_END : LEASE_END, atoi(argv[3]), atoi(argv[4]));
        return 0;
    }
    fprintf(stderr,
            "usage: %s preload pop|lease|streams PORT MESSAGES QUEUE\n"
            "       %s throughput pop|lease|streams PORT CONNECTIONS SECONDS QUEUE\n"
            "       %s redelivery PORT SAMPLES VISIBILITY_MS\n"
            "       %s delay PORT SAMPLES DELAY_MS\n",
            argv[0], argv[0], argv[0], argv[0]);
    return 2;
}
