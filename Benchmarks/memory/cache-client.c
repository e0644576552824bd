/*
 * The memory benchmark's client, speaking HTTP to Keygate or RESP to Redis over one loopback
 * connection.
 *
 * Usage:
 *   cache-client load http|redis PORT KEYS VALUE_BYTES TTL_SECONDS
 *       Stores the keys k0000000 .. k<KEYS-1> with VALUE_BYTES-byte values and a TTL (none for
 *       0), 64 writes pipelined at a time. Prints keys=… seconds=…. Values go to Keygate as
 *       application/octet-stream, its default media type, which a record does not store: both
 *       servers then hold the same bytes.
 *   cache-client trace http|redis PORT SHAPE KEYS REQUESTS VALUE_BYTES
 *       Replays a request trace as a cache's client does: GET, then on a miss a PUT (SET) of the
 *       value, one request at a time. SHAPE is `zipf:ALPHA` (keys drawn from a Zipf
 *       distribution of exponent ALPHA over KEYS keys) or `scan:ALPHA` (the same, but every
 *       fifth request reads the next key of an endless sequential scan of keys never read
 *       again: a scan that pollutes the cache) or `shift:ALPHA` (Zipf, but every tenth of the
 *       trace the ranks move to other keys: a working set that shifts, where recency tells what
 *       is hot now). The trace is the same for every server (fixed seed). Prints requests=…
 *       hits=… hit_ratio=… seconds=….
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <unistd.h>

#include "../common/client.h"

enum { BUFFER_CAPACITY = 1 << 20, DEPTH = 64 };

/* One connection and the bytes read from it that are not parsed yet. */
struct connection {
    int fd;
    bool is_redis;
    size_t start, end;
    char buffer[BUFFER_CAPACITY];
};

/* Reads more bytes; keeps the unparsed ones. */
static void
read_more(struct connection *connection)
{
    if (connection->start > 0) {
        memmove(connection->buffer, connection->buffer + connection->start, connection->end - connection->start);
        connection->end -= connection->start;
        connection->start = 0;
    }
    if (connection->end == BUFFER_CAPACITY)
        failf("an answer larger than the buffer");
    ssize_t got = read(connection->fd, connection->buffer + connection->end, BUFFER_CAPACITY - connection->end);
    if (got < 0)
        fail("read");
    if (got == 0)
        failf("the server closed the connection");
    connection->end += (size_t) got;
}

/* The end of the line at the start of the unparsed bytes (after its CRLF), reading as needed. */
static size_t
line_end(struct connection *connection, size_t from)
{
    for (;;) {
        char *found = memmem(connection->buffer + from, connection->end - from, "\r\n", 2);
        if (found != NULL)
            return (size_t) (found - connection->buffer) + 2;
        size_t offset = from - connection->start;
        read_more(connection);
        from = connection->start + offset;
    }
}

/* Reads one answer; returns its status: the HTTP status, or for Redis 200 for a value or
   `+OK` and 404 for a nil. */
static int
read_answer(struct connection *connection)
{
    if (connection->is_redis) {
        size_t end = line_end(connection, connection->start);
        char kind = connection->buffer[connection->start];
        if (kind == '+') {
            connection->start = end;
            return 200;
        }
        if (kind != '$')
            failf("Redis answered %.*s", (int) (end - connection->start), connection->buffer + connection->start);
        long length = strtol(connection->buffer + connection->start + 1, NULL, 10);
        connection->start = end;
        if (length < 0)
            return 404;
        while (connection->end - connection->start < (size_t) length + 2)
            read_more(connection);
        connection->start += (size_t) length + 2;
        return 200;
    }
    /* HTTP: the head up to its blank line, then Content-Length bytes. */
    size_t head_end;
    for (;;) {
        char *found = memmem(connection->buffer + connection->start, connection->end - connection->start,
                             "\r\n\r\n", 4);
        if (found != NULL) {
            head_end = (size_t) (found - connection->buffer) + 4;
            break;
        }
        read_more(connection);
    }
    const char *head = connection->buffer + connection->start;
    int status = atoi(head + 9);
    const char *length_field = header_value(head, head_end - connection->start, "Content-Length");
    long length = length_field == NULL ? 0 : strtol(length_field, NULL, 10);
    size_t head_length = head_end - connection->start;
    while (connection->end - connection->start < head_length + (size_t) length)
        read_more(connection);
    connection->start += head_length + (size_t) length;
    return status;
}

static char value[4096];
static size_t value_bytes;

/* Appends the request for KIND ('G' get, 'S' set) of key number KEY to OUT; returns its length. */
static size_t
format_request(bool is_redis, char kind, long key, long ttl, char *out)
{
    char name[32];
    int name_length = snprintf(name, sizeof name, "k%07ld", key);
    int length;
    if (is_redis) {
        if (kind == 'G')
            return (size_t) sprintf(out, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", name_length, name);
        char ttl_text[24];
        int ttl_length = snprintf(ttl_text, sizeof ttl_text, "%ld", ttl);
        if (ttl > 0)
            length = sprintf(out, "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n%s\r\n$2\r\nEX\r\n$%d\r\n%s\r\n",
                             name_length, name, value_bytes, value, ttl_length, ttl_text);
        else
            length = sprintf(out, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n%s\r\n", name_length, name,
                             value_bytes, value);
        return (size_t) length;
    }
    if (kind == 'G')
        return (size_t) sprintf(out, "GET /v1/cache/%s HTTP/1.1\r\nHost: bench\r\n\r\n", name);
    char query[32] = "";
    if (ttl > 0)
        snprintf(query, sizeof query, "?ttl=%ld", ttl);
    length = sprintf(out,
                     "PUT /v1/cache/%s%s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     name, query, value_bytes, value);
    return (size_t) length;
}

static void
expect_stored(int status)
{
    if (status != 200 && status != 201 && status != 204)
        failf("a write was answered %d", status);
}

static void
load(struct connection *connection, long keys, long ttl)
{
    static char requests[DEPTH * 8192];
    int64_t started = monotonic_us();
    for (long first = 0; first < keys; first += DEPTH) {
        size_t length = 0;
        long count = keys - first < DEPTH ? keys - first : DEPTH;
        for (long key = first; key < first + count; key++)
            length += format_request(connection->is_redis, 'S', key, ttl, requests + length);
        send_all(connection->fd, requests, length);
        for (long index = 0; index < count; index++)
            expect_stored(read_answer(connection));
    }
    printf("keys=%ld seconds=%.2f\n", keys, (monotonic_us() - started) / 1e6);
}

/* A fixed generator (SplitMix64), so that every server sees the same trace. */
static uint64_t random_state = 0x5EED;

static double
next_unit(void)
{
    uint64_t z = (random_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double) (z >> 11) / 9007199254740992.0;
}

static void
trace(struct connection *connection, const char *shape, long keys, long requests)
{
    bool scans = strncmp(shape, "scan:", 5) == 0;
    bool shifts = strncmp(shape, "shift:", 6) == 0;
    if (!scans && !shifts && strncmp(shape, "zipf:", 5) != 0)
        failf("unknown trace shape %s", shape);
    double alpha = atof(shape + (shifts ? 6 : 5));
    /* The cumulative distribution of ranks; a rank's key is spread over the key numbers by a
       multiplication modulo KEYS, so that hot keys are not neighbours. */
    double *cumulative = malloc(sizeof(double) * (size_t) keys);
    if (cumulative == NULL)
        fail("malloc");
    double sum = 0;
    for (long rank = 0; rank < keys; rank++)
        cumulative[rank] = (sum += 1.0 / pow((double) (rank + 1), alpha));
    long scan_next = keys;
    long hits = 0;
    char request[8192];
    int64_t started = monotonic_us();
    for (long index = 0; index < requests; index++) {
        long key;
        if (scans && index % 5 == 4) {
            key = scan_next++;
        } else {
            double target = next_unit() * sum;
            long low = 0, high = keys - 1;
            while (low < high) {
                long middle = (low + high) / 2;
                if (cumulative[middle] < target)
                    low = middle + 1;
                else
                    high = middle;
            }
            /* A shifting trace moves its popularity to other keys every tenth of the trace. */
            long shift = shifts ? index / (requests / 10 > 0 ? requests / 10 : 1) * (keys / 10) : 0;
            key = (long) (((uint64_t) (low + shift) * 2654435761ULL) % (uint64_t) keys);
        }
        send_all(connection->fd, request, format_request(connection->is_redis, 'G', key, 0, request));
        int status = read_answer(connection);
        if (status == 200) {
            hits++;
        } else if (status == 404) {
            send_all(connection->fd, request, format_request(connection->is_redis, 'S', key, 0, request));
            expect_stored(read_answer(connection));
        } else {
            failf("a read was answered %d", status);
        }
    }
    printf("requests=%ld hits=%ld hit_ratio=%.4f seconds=%.1f\n", requests, hits, (double) hits / requests,
           (monotonic_us() - started) / 1e6);
    free(cumulative);
}

int
main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[2], "http") != 0 && strcmp(argv[2], "redis") != 0))
        failf("usage: cache-client load|trace http|redis PORT …");
    static struct connection connection;
    connection.is_redis = strcmp(argv[2], "redis") == 0;
    connection.fd = connect_to(atoi(argv[3]));
    if (strcmp(argv[1], "load") == 0 && argc == 7) {
        value_bytes = (size_t) atol(argv[5]);
        if (value_bytes >= sizeof value)
            failf("values up to %zu bytes", sizeof value - 1);
        memset(value, 'v', value_bytes);
        load(&connection, atol(argv[4]), atol(argv[6]));
    } else if (strcmp(argv[1], "trace") == 0 && argc == 8) {
        value_bytes = (size_t) atol(argv[7]);
        if (value_bytes >= sizeof value)
            failf("values up to %zu bytes", sizeof value - 1);
        memset(value, 'v', value_bytes);
        trace(&connection, argv[4], atol(argv[5]), atol(argv[6]));
    } else {
        failf("usage: cache-client load http|redis PORT KEYS VALUE_BYTES TTL_SECONDS"
              " | trace http|redis PORT SHAPE KEYS REQUESTS VALUE_BYTES");
    }
    close(connection.fd);
    return 0;
}
