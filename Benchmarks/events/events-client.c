/*
 * The events benchmark's client: measures how late key-expiry notifications reach a
 * subscriber, on Keygate (server-sent events) or on Redis (keyspace notifications), and how
 * fast Keygate fans one stream of events out to many subscribers. Loopback only.
 *
 * Usage:
 *   events-client expiry keygate|redis PORT KEYS LEAD_MS SPREAD_MS SETTLE_MS MEASURE_MS GRACE_MS
 *                 CONNECTIONS DEPTH
 *       Subscribes to expirations, then sets KEYS keys whose deadlines are spread uniformly over
 *       SPREAD_MS, the first LEAD_MS after loading starts, in shuffled order, with DEPTH
 *       pipelined writes in flight on each of CONNECTIONS connections. Each key is
 *       lat:<deadline, Unix ms>:<n>, so an event alone gives its lateness: the time it is read
 *       here minus the key's deadline. The TTL sent is that deadline minus the time of sending,
 *       so the server's deadline trails ours by at most the time the write takes to be answered
 *       (reported as write_time; slow_writes counts the measured keys whose write took over
 *       1 ms). The keys measured are
 *       those whose deadlines fall in a window of MEASURE_MS that starts at the first deadline,
 *       or SETTLE_MS after loading ends if that is later; their notifications are awaited until
 *       GRACE_MS after the window's end, and any still missing then count as missing. With
 *       EXPIRY_TRACE=FILE in the environment, also writes each measured key's deadline (Unix
 *       ms) and lateness (µs) to FILE, a line each, in the order they arrive.
 *   events-client fanout PORT SUBSCRIBERS RATE SECONDS DRAIN_MS [SERVER_PID]
 *       Opens SUBSCRIBERS streams of GET /v1/events?type=set&key=fan:*, then writes RATE new
 *       keys per second for SECONDS on one connection, and times each event from the moment
 *       its write was sent (in µs: write n sets fan:<n>) to its arrival at each subscriber.
 *       Two threads read the subscribers, half each. Deliveries still missing DRAIN_MS after
 *       the last write count as lost. With SERVER_PID, also the CPU
 *       time the server's threads ran from the first write to the last delivery (writes and
 *       deliveries together), in all and per delivery.
 *
 * Prints one line of key=value figures (times in ms); a figure with no sample is `null`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/client.h"

enum {
    READ_CAPACITY = 1 << 18,    /* one read from any socket */
    PENDING_CAPACITY = 1 << 18, /* unparsed answers of one writer connection */
    HEAD_CAPACITY = 4096,       /* an event stream's response head */
    LINE_CAPACITY = 4096,       /* one line of server-sent events */
    MAX_DEPTH = 64,             /* writes in flight per writer connection, at most */
    SLOW_WRITE_US = 1000,       /* a write answered later leaves its deadline uncertain */
    SUBSCRIBE_BATCH = 200,      /* streams opened before waiting for their answers */
};

/* --- HTTP answers ------------------------------------------------------------------------- */

/* Parses the complete responses at the start of BUFFER, which answer requests that were sent
   with a body, and checks that each is 2xx. Returns the bytes they take; *COUNT gets how many. */
static size_t
take_http_answers(const char *buffer, size_t length, int *count)
{
    size_t used = 0;
    *count = 0;
    for (;;) {
        const char *head = buffer + used;
        const char *end = memmem(head, length - used, "\r\n\r\n", 4);
        if (end == NULL)
            return used;
        size_t head_length = (size_t) (end - head) + 4;
        const char *content_length = header_value(head, head_length, "Content-Length");
        size_t body = content_length == NULL ? 0 : strtoul(content_length, NULL, 10);
        if (length - used < head_length + body)
            return used;
        if (head_length < 12 || memcmp(head, "HTTP/1.1 2", 10) != 0)
            failf("a write was answered %.*s", (int) strcspn(head, "\r"), head);
        used += head_length + body;
        ++*count;
    }
}

/* --- Server-sent events over chunked HTTP -------------------------------------------------- */

/* Called for each complete event with its `event:` type and its `data:` line. */
typedef void event_handler(void *context, const char *type, const char *data, int64_t arrival_us);

/* One `GET /v1/events` stream: the response head, then the chunked coding (hex size CRLF, data
   CRLF), whose chunks need not end on event boundaries, then lines of server-sent events. */
struct event_stream {
    enum { READING_HEAD, READING_SIZE, READING_DATA, READING_DATA_END, ENDED } state;
    bool in_extension;
    int size_digits;
    uint64_t chunk_left;
    size_t head_length, line_length;
    char type[32];
    bool has_data;
    char head[HEAD_CAPACITY];
    char line[LINE_CAPACITY];
    char data[LINE_CAPACITY];
};

static const char *
field_value(const char *line, const char *field)
{
    size_t length = strlen(field);
    if (strncmp(line, field, length) != 0)
        return NULL;
    return line[length] == ' ' ? line + length + 1 : line + length;
}

/* One line of server-sent events, without its line break; a blank one dispatches the event. */
static void
stream_line(struct event_stream *stream, event_handler *handler, void *context, int64_t arrival_us)
{
    const char *line = stream->line, *value;
    if (stream->line_length == 0) {
        if (stream->type[0] != '\0' && stream->has_data)
            handler(context, stream->type, stream->data, arrival_us);
        stream->type[0] = '\0';
        stream->has_data = false;
    } else if ((value = field_value(line, "event:")) != NULL) {
        snprintf(stream->type, sizeof stream->type, "%s", value);
    } else if ((value = field_value(line, "data:")) != NULL) {
        snprintf(stream->data, sizeof stream->data, "%s", value);
        stream->has_data = true;
    }
    /* `id:`, `retry:` and `:` comments (heartbeats) need nothing. */
}

static void
stream_text(struct event_stream *stream, const char *bytes, size_t count, event_handler *handler,
            void *context, int64_t arrival_us)
{
    while (count > 0) {
        const char *newline = memchr(bytes, '\n', count);
        size_t take = newline == NULL ? count : (size_t) (newline - bytes);
        if (stream->line_length + take >= LINE_CAPACITY)
            failf("an event line is longer than %d bytes", LINE_CAPACITY);
        memcpy(stream->line + stream->line_length, bytes, take);
        stream->line_length += take;
        if (newline == NULL)
            return;
        bytes += take + 1;
        count -= take + 1;
        if (stream->line_length > 0 && stream->line[stream->line_length - 1] == '\r')
            stream->line_length--;
        stream->line[stream->line_length] = '\0';
        stream_line(stream, handler, context, arrival_us);
        stream->line_length = 0;
    }
}

static int
hex_digit(char character)
{
    if (character >= '0' && character <= '9')
        return character - '0';
    if (character >= 'a' && character <= 'f')
        return character - 'a' + 10;
    if (character >= 'A' && character <= 'F')
        return character - 'A' + 10;
    return -1;
}

/* Consumes bytes read from the stream's socket. The stream is ENDED after the last chunk. */
static void
stream_feed(struct event_stream *stream, const char *bytes, size_t count, event_handler *handler,
            void *context, int64_t arrival_us)
{
    while (count > 0 && stream->state != ENDED) {
        switch (stream->state) {
        case READING_HEAD: {
            size_t room = HEAD_CAPACITY - 1 - stream->head_length;
            size_t take = count < room ? count : room;
            size_t before = stream->head_length;
            memcpy(stream->head + before, bytes, take);
            stream->head_length += take;
            stream->head[stream->head_length] = '\0';
            char *end = strstr(stream->head, "\r\n\r\n");
            if (end == NULL) {
                if (stream->head_length == HEAD_CAPACITY - 1)
                    failf("the event stream's head is too long");
                bytes += take;
                count -= take;
                break;
            }
            size_t used = (size_t) (end + 4 - stream->head) - before;
            if (strncmp(stream->head, "HTTP/1.1 200", 12) != 0)
                failf("the event stream was answered %.*s",
                      (int) strcspn(stream->head, "\r"), stream->head);
            const char *coding = header_value(stream->head, stream->head_length,
                                              "Transfer-Encoding");
            if (coding == NULL || strncasecmp(coding, "chunked", 7) != 0)
                failf("the event stream is not chunked");
            bytes += used;
            count -= used;
            stream->state = READING_SIZE;
            break;
        }
        case READING_SIZE: {
            char character = *bytes++;
            count--;
            int digit = hex_digit(character);
            if (character == '\n') {
                if (stream->size_digits == 0)
                    failf("a chunk has no size");
                stream->state = stream->chunk_left == 0 ? ENDED : READING_DATA;
                stream->size_digits = 0;
                stream->in_extension = false;
            } else if (stream->in_extension || character == '\r') {
                /* Chunk extensions are ignored. */
            } else if (character == ';') {
                stream->in_extension = true;
            } else if (digit >= 0 && stream->size_digits < 15) {
                stream->chunk_left = stream->chunk_left * 16 + (uint64_t) digit;
                stream->size_digits++;
            } else {
                failf("a chunk size is malformed");
            }
            break;
        }
        case READING_DATA: {
            size_t take = count < stream->chunk_left ? count : (size_t) stream->chunk_left;
            stream_text(stream, bytes, take, handler, context, arrival_us);
            bytes += take;
            count -= take;
            stream->chunk_left -= take;
            if (stream->chunk_left == 0)
                stream->state = READING_DATA_END;
            break;
        }
        case READING_DATA_END: {
            char character = *bytes++;
            count--;
            if (character == '\n')
                stream->state = READING_SIZE;
            else if (character != '\r')
                failf("a chunk does not end with CRLF");
            break;
        }
        case ENDED:
            break;
        }
    }
}

/* The integer after "NAME": in one line of JSON, or -1. */
static long long
json_integer(const char *json, const char *name)
{
    const char *found = strstr(json, name);
    return found == NULL ? -1 : strtoll(found + strlen(name), NULL, 10);
}

/* Opens `GET PATH` as an event stream, resuming after event LAST_ID unless it is negative; its
   answer is read through the epoll loop. */
static int
open_event_stream(int port, const char *path, long long last_id)
{
    char request[512], resume[64] = "";
    if (last_id >= 0)
        snprintf(resume, sizeof resume, "Last-Event-ID: %lld\r\n", last_id);
    int length = snprintf(request, sizeof request,
                          "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                          "%s\r\n",
                          path, resume);
    int fd = connect_to(port);
    send_all(fd, request, (size_t) length);
    return fd;
}

/* --- Redis replies -------------------------------------------------------------------------- */

/* One element of a RESP array: a bulk string or an integer. */
struct resp_item {
    const char *text;
    size_t length;
};

/* Parses one RESP array of up to 3 bulk strings or integers at the start of BUFFER; returns
   the bytes it takes, or 0 when it is incomplete. */
static size_t
take_resp_array(const char *buffer, size_t length, struct resp_item items[3], int *count)
{
    const char *end = buffer + length;
    const char *line_end = memmem(buffer, length, "\r\n", 2);
    if (line_end == NULL)
        return 0;
    if (buffer[0] != '*')
        failf("Redis sent '%.*s' where a message was expected", (int) (line_end - buffer), buffer);
    *count = atoi(buffer + 1);
    if (*count < 1 || *count > 3)
        failf("Redis sent an array of %d elements", *count);
    const char *cursor = line_end + 2;
    for (int index = 0; index < *count; index++) {
        if (cursor >= end)
            return 0;
        line_end = memmem(cursor, (size_t) (end - cursor), "\r\n", 2);
        if (line_end == NULL)
            return 0;
        if (*cursor == ':') {
            items[index] = (struct resp_item) { cursor + 1, (size_t) (line_end - cursor - 1) };
            cursor = line_end + 2;
        } else if (*cursor == '$') {
            size_t size = strtoul(cursor + 1, NULL, 10);
            const char *text = line_end + 2;
            if ((size_t) (end - text) < size + 2)
                return 0;
            items[index] = (struct resp_item) { text, size };
            cursor = text + size + 2;
        } else {
            failf("Redis sent an unexpected element '%c'", *cursor);
        }
    }
    return (size_t) (cursor - buffer);
}

/* --- Expiry lateness ---------------------------------------------------------------------- */

enum server { KEYGATE, REDIS };

/* A connection that writes keys, a batch of `depth` requests at a time. */
struct writer {
    int fd, in_flight, answered;
    int64_t sent_us;           /* when the batch in flight was sent */
    uint32_t batch[MAX_DEPTH]; /* its keys, in the order the answers come */
    size_t pending_length;
    char pending[PENDING_CAPACITY];
};

struct expiry {
    enum server server;
    long keys;
    int64_t first_deadline_ms, spread_ms;
    /* The order keys are written in: a shuffle, so deadlines are not inserted in order. */
    uint32_t *order;
    long next, answered;
    int depth;
    /* The measured window of deadlines [window_start_ms, window_end_ms), known once loading
       has ended (load_end_us > 0). */
    int64_t load_start_us, load_end_us, window_start_ms, window_end_ms;
    long expected, arrived, duplicates, early, outside, gaps, gap_ids, resumptions, slow_writes;
    /* The id to resume the stream after, once a gap has ended it; -1 when there is none. */
    long long resume_id;
    bool stream_ended;
    uint8_t *seen;
    /* Whether each key's write took longer than SLOW_WRITE_US to be answered: its deadline on
       the server may trail the one in its name by that much, and so may its lateness. */
    uint8_t *is_slow_write;
    /* Lateness as read here, and as stamped by the server; the time from a write being sent to
       its answer, which bounds how much later than ours the server's deadline may be. */
    struct histogram lateness, server_lag, write_time;
    struct event_stream stream;
    char pending[PENDING_CAPACITY]; /* Redis messages not parsed yet */
    size_t pending_length;
};

static int64_t
deadline_of(const struct expiry *expiry, long key)
{
    return expiry->first_deadline_ms + (int64_t) key * expiry->spread_ms / expiry->keys;
}

/* Notes that the key named NAME (LENGTH bytes) expired: an event or message read at
   ARRIVAL_US, stamped SERVER_MS by the server (-1 for none). */
/* Writes a key's deadline and lateness to the file EXPIRY_TRACE names, if it names one. */
static void
trace_expiry(long long deadline_ms, int64_t lateness_us)
{
    static FILE *trace;
    static int opened;
    if (!opened) {
        opened = 1;
        const char *path = getenv("EXPIRY_TRACE");
        if (path && !(trace = fopen(path, "w")))
            failf("cannot write the expiry trace to %s", path);
    }
    if (trace)
        fprintf(trace, "%lld %lld\n", deadline_ms, (long long) lateness_us);
}

static void
record_expiry(struct expiry *expiry, const char *name, size_t length, int64_t arrival_us,
              int64_t server_ms)
{
    char key[128];
    if (length >= sizeof key || length < 4 || memcmp(name, "lat:", 4) != 0) {
        expiry->outside++;
        return;
    }
    memcpy(key, name, length);
    key[length] = '\0';
    char *end;
    long long deadline_ms = strtoll(key + 4, &end, 10);
    long index = *end == ':' ? strtol(end + 1, NULL, 10) : -1;
    if (index < 0 || index >= expiry->keys || deadline_ms != deadline_of(expiry, index)) {
        expiry->outside++;
        return;
    }
    if (expiry->load_end_us == 0) {
        /* Before loading ended, so before the window: loading cannot outlast a deadline in it. */
        expiry->early++;
        return;
    }
    if (deadline_ms < expiry->window_start_ms || deadline_ms >= expiry->window_end_ms) {
        expiry->outside++;
        return;
    }
    if (expiry->seen[index]) {
        expiry->duplicates++;
        return;
    }
    expiry->seen[index] = 1;
    expiry->arrived++;
    expiry->slow_writes += expiry->is_slow_write[index];
    histogram_add(&expiry->lateness, arrival_us - deadline_ms * 1000);
    trace_expiry(deadline_ms, arrival_us - deadline_ms * 1000);
    if (server_ms >= 0)
        histogram_add(&expiry->server_lag, (server_ms - deadline_ms) * 1000);
}

static void
on_expiry_event(void *context, const char *type, const char *data, int64_t arrival_us)
{
    struct expiry *expiry = context;
    if (strcmp(type, "gap") == 0) {
        expiry->gaps++;
        expiry->resume_id = json_integer(data, "\"to\":");
        expiry->gap_ids += expiry->resume_id - json_integer(data, "\"from\":") + 1;
        return;
    }
    if (strcmp(type, "expired") != 0)
        return;
    const char *key = strstr(data, "\"key\":\"");
    if (key == NULL)
        failf("an event has no key: %s", data);
    key += 7;
    const char *quote = strchr(key, '"');
    if (quote == NULL)
        failf("an event's key is not terminated: %s", data);
    record_expiry(expiry, key, (size_t) (quote - key), arrival_us,
                  json_integer(data, "\"time\":"));
}

/* Reads the Redis messages buffered so far. */
static void
take_redis_messages(struct expiry *expiry, int64_t arrival_us)
{
    size_t used = 0;
    for (;;) {
        struct resp_item items[3];
        int count;
        size_t size = take_resp_array(expiry->pending + used, expiry->pending_length - used,
                                      items, &count);
        if (size == 0)
            break;
        used += size;
        if (count == 3 && items[0].length == 7 && memcmp(items[0].text, "message", 7) == 0)
            record_expiry(expiry, items[2].text, items[2].length, arrival_us, -1);
    }
    memmove(expiry->pending, expiry->pending + used, expiry->pending_length - used);
    expiry->pending_length -= used;
}

/* Sends the writer's next batch of keys, each with its TTL computed just before sending. */
static void
send_batch(struct expiry *expiry, struct writer *writer)
{
    static char buffer[MAX_DEPTH * 256];
    size_t length = 0;
    int64_t now_us = unix_us();
    writer->sent_us = now_us;
    writer->answered = 0;
    while (writer->in_flight < expiry->depth && expiry->next < expiry->keys) {
        long index = (long) expiry->order[expiry->next++];
        writer->batch[writer->in_flight] = (uint32_t) index;
        int64_t deadline_ms = deadline_of(expiry, index);
        /* Rounded up, so that the server's deadline (its clock in ms + TTL) is not before ours. */
        int64_t ttl_ms = (deadline_ms * 1000 - now_us + 999) / 1000;
        ttl_ms = ttl_ms < 1 ? 1 : ttl_ms;
        char key[64];
        int key_length = snprintf(key, sizeof key, "lat:%lld:%ld", (long long) deadline_ms, index);
        if (expiry->server == KEYGATE)
            length += (size_t) snprintf(buffer + length, sizeof buffer - length,
                                        "PUT /v1/cache/%s?ttl=%lld.%03lld HTTP/1.1\r\n"
                                        "Host: 127.0.0.1\r\nContent-Length: 1\r\n\r\nv",
                                        key, (long long) (ttl_ms / 1000),
                                        (long long) (ttl_ms % 1000));
        else {
            char ttl[24];
            int ttl_length = snprintf(ttl, sizeof ttl, "%lld", (long long) ttl_ms);
            length += (size_t) snprintf(buffer + length, sizeof buffer - length,
                                        "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n"
                                        "$2\r\nPX\r\n$%d\r\n%s\r\n",
                                        key_length, key, ttl_length, ttl);
        }
        writer->in_flight++;
    }
    if (length > 0)
        send_all(writer->fd, buffer, length);
}

/* Counts the answers buffered on a writer: HTTP responses or Redis `+OK` lines. */
static int
take_answers(struct expiry *expiry, struct writer *writer)
{
    int count = 0;
    size_t used = 0;
    if (expiry->server == KEYGATE) {
        used = take_http_answers(writer->pending, writer->pending_length, &count);
    } else {
        const char *line;
        while ((line = memmem(writer->pending + used, writer->pending_length - used, "\r\n", 2))
               != NULL) {
            if (writer->pending[used] != '+')
                failf("Redis answered a SET with %.*s", (int) (line - writer->pending - used),
                      writer->pending + used);
            used = (size_t) (line - writer->pending) + 2;
            count++;
        }
    }
    memmove(writer->pending, writer->pending + used, writer->pending_length - used);
    writer->pending_length -= used;
    return count;
}

/* The window measured once loading has ended, and the number of keys whose deadlines are in it. */
static void
start_window(struct expiry *expiry, int64_t settle_ms, int64_t measure_ms)
{
    int64_t settled_ms = (expiry->load_end_us + 999) / 1000 + settle_ms;
    int64_t last_ms = expiry->first_deadline_ms + expiry->spread_ms;
    expiry->window_start_ms =
        settled_ms > expiry->first_deadline_ms ? settled_ms : expiry->first_deadline_ms;
    expiry->window_end_ms = expiry->window_start_ms + measure_ms;
    if (expiry->window_end_ms > last_ms)
        expiry->window_end_ms = last_ms;
    if (expiry->window_end_ms <= expiry->window_start_ms)
        failf("loading took %.1f s, past every deadline; give it a longer lead",
              (double) (expiry->load_end_us - expiry->load_start_us) / 1e6);
    for (long index = 0; index < expiry->keys; index++) {
        int64_t deadline_ms = deadline_of(expiry, index);
        if (deadline_ms >= expiry->window_start_ms && deadline_ms < expiry->window_end_ms)
            expiry->expected++;
    }
}

static int
run_expiry(int argc, char **argv)
{
    if (argc != 12) {
        fprintf(stderr, "usage: %s expiry keygate|redis PORT KEYS LEAD_MS SPREAD_MS SETTLE_MS "
                        "MEASURE_MS GRACE_MS CONNECTIONS DEPTH\n", argv[0]);
        return 2;
    }
    static struct expiry expiry;
    if (strcmp(argv[2], "keygate") == 0)
        expiry.server = KEYGATE;
    else if (strcmp(argv[2], "redis") == 0)
        expiry.server = REDIS;
    else
        failf("unknown server '%s'", argv[2]);
    int port = atoi(argv[3]);
    expiry.keys = atol(argv[4]);
    int64_t lead_ms = atoll(argv[5]);
    expiry.spread_ms = atoll(argv[6]);
    int64_t settle_ms = atoll(argv[7]), measure_ms = atoll(argv[8]), grace_ms = atoll(argv[9]);
    int connections = atoi(argv[10]);
    expiry.depth = atoi(argv[11]);
    if (expiry.keys < 1 || expiry.keys > UINT32_MAX || lead_ms < 1 || expiry.spread_ms < 1
        || measure_ms < 1 || connections < 1)
        failf("KEYS, LEAD_MS, SPREAD_MS, MEASURE_MS and CONNECTIONS must be positive");
    if (expiry.depth < 1 || expiry.depth > MAX_DEPTH)
        failf("DEPTH must be between 1 and %d", MAX_DEPTH);
    raise_file_limit(connections + 64);

    expiry.order = malloc((size_t) expiry.keys * sizeof *expiry.order);
    expiry.seen = calloc((size_t) expiry.keys, 1);
    expiry.is_slow_write = calloc((size_t) expiry.keys, 1);
    struct writer *writers = calloc((size_t) connections, sizeof *writers);
    int epoll = epoll_create1(0);
    static char buffer[READ_CAPACITY];
    if (expiry.order == NULL || expiry.seen == NULL || expiry.is_slow_write == NULL
        || writers == NULL || epoll < 0)
        fail("set-up");
    histogram_init(&expiry.lateness);
    histogram_init(&expiry.server_lag);
    histogram_init(&expiry.write_time);
    uint64_t random = 0x9e3779b97f4a7c15u;
    for (long index = 0; index < expiry.keys; index++)
        expiry.order[index] = (uint32_t) index;
    for (long index = expiry.keys - 1; index > 0; index--) {
        random ^= random << 13, random ^= random >> 7, random ^= random << 17;
        long other = (long) (random % (uint64_t) (index + 1));
        uint32_t swap = expiry.order[index];
        expiry.order[index] = expiry.order[other];
        expiry.order[other] = swap;
    }

    /* Subscribe first, and wait until the server confirms it. */
    static const char stream_path[] = "/v1/events?type=expired&key=lat:*";
    int subscriber;
    expiry.resume_id = -1;
    if (expiry.server == KEYGATE) {
        subscriber = open_event_stream(port, stream_path, -1);
        while (expiry.stream.state == READING_HEAD) {
            ssize_t count = recv(subscriber, buffer, sizeof buffer, 0);
            if (count <= 0)
                fail("recv event stream head");
            stream_feed(&expiry.stream, buffer, (size_t) count, on_expiry_event, &expiry,
                        unix_us());
        }
    } else {
        static const char subscribe[] = "SUBSCRIBE __keyevent@0__:expired\r\n";
        subscriber = connect_to(port);
        send_all(subscriber, subscribe, sizeof subscribe - 1);
        struct resp_item items[3];
        int count = 0;
        size_t used;
        while ((used = take_resp_array(expiry.pending, expiry.pending_length, items, &count))
               == 0) {
            ssize_t received = recv(subscriber, expiry.pending + expiry.pending_length,
                                    sizeof expiry.pending - expiry.pending_length, 0);
            if (received <= 0)
                fail("recv SUBSCRIBE answer");
            expiry.pending_length += (size_t) received;
        }
        if (count != 3 || items[0].length != 9 || memcmp(items[0].text, "subscribe", 9) != 0)
            failf("Redis did not confirm the subscription");
        memmove(expiry.pending, expiry.pending + used, expiry.pending_length - used);
        expiry.pending_length -= used;
    }
    add_to_epoll(epoll, subscriber, 0);

    for (int index = 0; index < connections; index++)
        writers[index].fd = add_to_epoll(epoll, connect_to(port), (uint32_t) index + 1);
    expiry.load_start_us = unix_us();
    expiry.first_deadline_ms = expiry.load_start_us / 1000 + lead_ms;
    for (int index = 0; index < connections; index++)
        send_batch(&expiry, &writers[index]);

    int64_t stop_ms = INT64_MAX;
    while (!expiry.stream_ended) {
        int64_t now_ms = unix_us() / 1000;
        if (expiry.load_end_us != 0 && (now_ms >= stop_ms || expiry.arrived == expiry.expected))
            break;
        if (expiry.load_end_us == 0 && now_ms > expiry.first_deadline_ms + expiry.spread_ms)
            failf("only %ld of %ld keys were written before the last deadline", expiry.answered,
                  expiry.keys);
        int timeout = stop_ms == INT64_MAX ? 1000 : (int) (stop_ms - now_ms);
        struct epoll_event events[64];
        int ready = epoll_wait(epoll, events, 64, timeout > 100 ? 100 : timeout);
        if (ready < 0 && errno != EINTR)
            fail("epoll_wait");
        for (int event = 0; event < ready; event++) {
            uint32_t tag = events[event].data.u32;
            if (tag == 0) {
                ssize_t count;
                if (expiry.server == KEYGATE) {
                    count = recv(subscriber, buffer, sizeof buffer, MSG_DONTWAIT);
                    if (count > 0)
                        stream_feed(&expiry.stream, buffer, (size_t) count, on_expiry_event,
                                    &expiry, unix_us());
                    expiry.stream_ended = expiry.stream.state == ENDED;
                } else {
                    count = recv(subscriber, expiry.pending + expiry.pending_length,
                                 sizeof expiry.pending - expiry.pending_length, MSG_DONTWAIT);
                    if (count > 0) {
                        expiry.pending_length += (size_t) count;
                        take_redis_messages(&expiry, unix_us());
                    }
                }
                if (count == 0)
                    expiry.stream_ended = true;
                else if (count < 0 && errno != EAGAIN)
                    fail("recv notifications");
                if (expiry.stream_ended && expiry.resume_id >= 0) {
                    /* A gap ends a stream. Its events may all be ones the filter would have
                       dropped (the writes' `set` events), so resume after it as a browser's
                       EventSource would; a real loss shows as keys missing. */
                    close(subscriber);
                    memset(&expiry.stream, 0, sizeof expiry.stream);
                    subscriber = add_to_epoll(
                        epoll, open_event_stream(port, stream_path, expiry.resume_id), 0);
                    expiry.resume_id = -1;
                    expiry.resumptions++;
                    expiry.stream_ended = false;
                }
                continue;
            }
            struct writer *writer = &writers[tag - 1];
            ssize_t count = recv(writer->fd, writer->pending + writer->pending_length,
                                 sizeof writer->pending - writer->pending_length, MSG_DONTWAIT);
            if (count == 0 && writer->in_flight == 0) {
                /* Idle since its last answer (the load is done): the server may close it. */
                epoll_ctl(epoll, EPOLL_CTL_DEL, writer->fd, NULL);
                close(writer->fd);
                continue;
            }
            if (count == 0)
                failf("the server closed a writing connection with writes in flight");
            if (count < 0) {
                if (errno == EAGAIN)
                    continue;
                fail("recv answers");
            }
            writer->pending_length += (size_t) count;
            int answers = take_answers(&expiry, writer);
            int64_t answered_us = unix_us();
            for (int answer = 0; answer < answers; answer++) {
                histogram_add(&expiry.write_time, answered_us - writer->sent_us);
                uint32_t key = writer->batch[writer->answered++];
                expiry.is_slow_write[key] = answered_us - writer->sent_us > SLOW_WRITE_US;
            }
            writer->in_flight -= answers;
            expiry.answered += answers;
            if (writer->in_flight == 0)
                send_batch(&expiry, writer);
            if (expiry.answered == expiry.keys && expiry.load_end_us == 0) {
                expiry.load_end_us = unix_us();
                start_window(&expiry, settle_ms, measure_ms);
                stop_ms = expiry.window_end_ms + grace_ms;
            }
        }
    }

    if (expiry.stream_ended)
        failf("the server ended the %s without a gap",
              expiry.server == KEYGATE ? "event stream" : "subscription");
    double load_seconds = (double) (expiry.load_end_us - expiry.load_start_us) / 1e6;
    printf("keys=%ld load_seconds=%.3f load_rate=%.0f first_deadline_after_load_ms=%lld "
           "window_start_after_load_ms=%lld window_seconds=%.3f measured=%ld arrived=%ld "
           "missing=%ld duplicates=%ld early=%ld outside=%ld gaps=%ld gap_ids=%ld "
           "resumptions=%ld slow_writes=%ld",
           expiry.keys, load_seconds, load_seconds > 0 ? expiry.keys / load_seconds : 0,
           (long long) (expiry.first_deadline_ms - expiry.load_end_us / 1000),
           (long long) (expiry.window_start_ms - expiry.load_end_us / 1000),
           (double) (expiry.window_end_ms - expiry.window_start_ms) / 1e3, expiry.expected,
           expiry.arrived, expiry.expected - expiry.arrived, expiry.duplicates, expiry.early,
           expiry.outside, expiry.gaps, expiry.gap_ids, expiry.resumptions, expiry.slow_writes);
    print_histogram("lateness", &expiry.lateness);
    if (expiry.server == KEYGATE)
        print_histogram("server_lag", &expiry.server_lag);
    print_histogram("write_time", &expiry.write_time);
    printf("\n");
    return 0;
}

/* --- Fan-out ------------------------------------------------------------------------------ */

struct producer {
    int port;
    long total;
    double rate;
    int64_t started_us, give_up_us;
    /* Written by the producer thread, read by the main one. */
    atomic_long sent, answered;
    atomic_llong last_answer_us;
    atomic_bool done;
    /* When each write was sent, Unix µs, by its number. */
    atomic_llong *sent_us;
};

/* Reads the answers that have arrived on the producer's connection, waiting at most
   TIMEOUT_MS for the first; returns false when none came. */
static bool
read_producer_answers(struct producer *producer, int fd, char *pending, size_t *length,
                      int timeout_ms)
{
    struct pollfd poll_fd = { .fd = fd, .events = POLLIN };
    if (poll(&poll_fd, 1, timeout_ms) <= 0)
        return false;
    ssize_t count = recv(fd, pending + *length, PENDING_CAPACITY - *length, MSG_DONTWAIT);
    if (count == 0)
        failf("the server closed the producer's connection");
    if (count < 0) {
        if (errno != EAGAIN)
            fail("recv answers");
        return false;
    }
    *length += (size_t) count;
    int answers;
    size_t used = take_http_answers(pending, *length, &answers);
    memmove(pending, pending + used, *length - used);
    *length -= used;
    if (answers > 0) {
        atomic_fetch_add(&producer->answered, answers);
        atomic_store(&producer->last_answer_us, monotonic_us());
    }
    return true;
}

/* Writes a new key fan:<n> every 1/rate s on one connection, pipelined: it keeps to the
   schedule whether or not the server has answered the earlier writes, so a server that cannot
   keep up falls behind instead of slowing the producer down. */
static void *
produce(void *argument)
{
    static char pending[PENDING_CAPACITY];
    size_t length = 0;
    struct producer *producer = argument;
    int fd = connect_to(producer->port);
    for (long index = 0; index < producer->total; index++) {
        int64_t due_us = producer->started_us + (int64_t) ((double) index * 1e6 / producer->rate);
        struct timespec due = { .tv_sec = due_us / 1000000, .tv_nsec = due_us % 1000000 * 1000 };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
            ;
        char request[256];
        int size = snprintf(request, sizeof request,
                            "PUT /v1/cache/fan:%ld HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Content-Length: 1\r\n\r\nv",
                            index);
        atomic_store_explicit(&producer->sent_us[index], unix_us(), memory_order_release);
        send_all(fd, request, (size_t) size);
        atomic_store(&producer->sent, index + 1);
        while (read_producer_answers(producer, fd, pending, &length, 0))
            ;
    }
    while (atomic_load(&producer->answered) < producer->total) {
        int64_t left_us = producer->give_up_us - monotonic_us();
        if (left_us <= 0)
            break;
        read_producer_answers(producer, fd, pending, &length, (int) (left_us / 1000) + 1);
    }
    atomic_store(&producer->done, true);
    return NULL;
}

/* The subscribers are read by this many threads, each with its own share and epoll set, so
   that reading a thousand sockets is not one thread's serial work: a real deployment's
   subscribers are a thousand processes that read at once. */
enum { FANOUT_READERS = 2 };

struct fanout {
    long subscribers;
    long *per_subscriber;
    struct event_stream *streams;
    /* When the producer sent write n (Unix µs), n being the key fan:<n>'s number. */
    atomic_llong *sent_us;
    long writes;
    atomic_bool stop;
};

/* One reading thread: its subscribers' epoll set and what they received. */
struct reader {
    pthread_t thread;
    struct fanout *fanout;
    int epoll;
    char *buffer;
    long established, ended, gaps, lost, unknown;
    atomic_long delivered;
    struct histogram latency;
};

/* The handler's context: the reader and which subscriber got the event. */
struct delivery {
    struct reader *reader;
    long subscriber;
};

static void
on_fanout_event(void *context, const char *type, const char *data, int64_t arrival_us)
{
    struct delivery *delivery = context;
    struct reader *reader = delivery->reader;
    struct fanout *fanout = reader->fanout;
    if (strcmp(type, "gap") == 0) {
        reader->gaps++;
        reader->lost += json_integer(data, "\"to\":") - json_integer(data, "\"from\":") + 1;
        return;
    }
    if (strcmp(type, "set") != 0)
        return;
    long long write = json_integer(data, "\"key\":\"fan:");
    int64_t sent_us = write >= 0 && write < fanout->writes
        ? atomic_load_explicit(&fanout->sent_us[write], memory_order_acquire)
        : 0;
    if (sent_us == 0) {
        reader->unknown++;
        return;
    }
    atomic_fetch_add_explicit(&reader->delivered, 1, memory_order_relaxed);
    fanout->per_subscriber[delivery->subscriber]++;
    histogram_add(&reader->latency, arrival_us - sent_us);
}

/* Reads what subscriber INDEX has received; its stream is ENDED once the server closes it. */
static void
read_subscriber(struct reader *reader, int fd, long index)
{
    struct event_stream *stream = &reader->fanout->streams[index];
    if (stream->state == ENDED)
        return;
    bool was_established = stream->state != READING_HEAD;
    ssize_t count = recv(fd, reader->buffer, READ_CAPACITY, MSG_DONTWAIT);
    if (count < 0) {
        if (errno == EAGAIN)
            return;
        fail("recv event stream");
    }
    if (count == 0) {
        stream->state = ENDED;
    } else {
        struct delivery delivery = { reader, index };
        stream_feed(stream, reader->buffer, (size_t) count, on_fanout_event, &delivery, unix_us());
    }
    if (!was_established && stream->state != READING_HEAD)
        reader->established++;
    if (stream->state == ENDED)
        reader->ended++;
}

/* Reads every socket of READER's epoll set that has something, waiting at most TIMEOUT_MS. */
static void
read_ready_subscribers(struct reader *reader, const int *sockets, int timeout_ms)
{
    struct epoll_event events[256];
    int ready = epoll_wait(reader->epoll, events, 256, timeout_ms);
    if (ready < 0 && errno != EINTR)
        fail("epoll_wait");
    for (int event = 0; event < ready; event++) {
        long subscriber = events[event].data.u32;
        read_subscriber(reader, sockets[subscriber], subscriber);
    }
}

struct reader_start {
    struct reader *reader;
    const int *sockets;
};

static void *
read_until_stopped(void *argument)
{
    struct reader_start *start = argument;
    while (!atomic_load(&start->reader->fanout->stop))
        read_ready_subscribers(start->reader, start->sockets, 20);
    return NULL;
}

static void
reader_init(struct reader *reader, struct fanout *fanout)
{
    *reader = (struct reader) { .fanout = fanout, .epoll = epoll_create1(0) };
    reader->buffer = malloc(READ_CAPACITY);
    if (reader->epoll < 0 || reader->buffer == NULL)
        fail("set-up");
    histogram_init(&reader->latency);
}

static int
run_fanout(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s fanout PORT SUBSCRIBERS RATE SECONDS DRAIN_MS [SERVER_PID]\n",
                argv[0]);
        return 2;
    }
    long server_pid = argc == 8 ? atol(argv[7]) : 0;
    int port = atoi(argv[2]);
    static struct fanout fanout;
    fanout.subscribers = atol(argv[3]);
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    int64_t drain_us = atoll(argv[6]) * 1000;
    if (fanout.subscribers < 1 || rate <= 0 || seconds <= 0)
        failf("SUBSCRIBERS, RATE and SECONDS must be positive");
    raise_file_limit(fanout.subscribers + 64);

    static struct producer producer;
    producer.port = port;
    producer.rate = rate;
    producer.total = (long) (rate * seconds + 0.5);
    fanout.writes = producer.total;
    producer.sent_us = fanout.sent_us = calloc((size_t) producer.total, sizeof *fanout.sent_us);
    int *sockets = calloc((size_t) fanout.subscribers, sizeof *sockets);
    fanout.streams = calloc((size_t) fanout.subscribers, sizeof *fanout.streams);
    fanout.per_subscriber = calloc((size_t) fanout.subscribers, sizeof *fanout.per_subscriber);
    if (sockets == NULL || fanout.streams == NULL || fanout.per_subscriber == NULL
        || fanout.sent_us == NULL)
        fail("set-up");
    static struct reader readers[FANOUT_READERS];
    for (int reader = 0; reader < FANOUT_READERS; reader++)
        reader_init(&readers[reader], &fanout);

    /* Open the streams in batches, waiting for each batch's answers (through the first
       reader's epoll set), so that the listen backlog never overflows; then give each reader
       its share. */
    struct reader *opener = &readers[0];
    int64_t connecting_started = monotonic_us();
    for (long index = 0; index < fanout.subscribers; index++) {
        sockets[index] = open_event_stream(port, "/v1/events?type=set&key=fan:*", -1);
        add_to_epoll(opener->epoll, sockets[index], (uint32_t) index);
        if ((index + 1) % SUBSCRIBE_BATCH != 0 && index + 1 != fanout.subscribers)
            continue;
        int64_t give_up = monotonic_us() + 30000000;
        while (opener->established + opener->ended < index + 1) {
            if (monotonic_us() > give_up)
                failf("only %ld of %ld event streams were answered", opener->established,
                      index + 1);
            read_ready_subscribers(opener, sockets, 100);
        }
    }
    if (opener->ended > 0)
        failf("%ld event streams ended at once", opener->ended);
    double connecting_seconds = (double) (monotonic_us() - connecting_started) / 1e6;
    for (long index = 0; index < fanout.subscribers; index++) {
        struct reader *reader = &readers[index % FANOUT_READERS];
        if (reader == opener)
            continue;
        if (epoll_ctl(opener->epoll, EPOLL_CTL_DEL, sockets[index], NULL) < 0)
            fail("epoll_ctl");
        add_to_epoll(reader->epoll, sockets[index], (uint32_t) index);
    }
    opener->established = 0;

    int64_t cpu_before_us = server_pid > 0 ? cpu_us(server_pid) : 0;
    struct reader_start starts[FANOUT_READERS];
    for (int reader = 0; reader < FANOUT_READERS; reader++) {
        starts[reader] = (struct reader_start) { &readers[reader], sockets };
        if (pthread_create(&readers[reader].thread, NULL, read_until_stopped, &starts[reader]) != 0)
            failf("cannot start a reader thread");
    }
    producer.started_us = monotonic_us();
    /* The run ends DRAIN_MS after the last write is due, whatever the server has done. */
    producer.give_up_us = producer.started_us + (int64_t) (seconds * 1e6) + drain_us;
    pthread_t thread;
    if (pthread_create(&thread, NULL, produce, &producer) != 0)
        failf("cannot start the producer thread");

    while (monotonic_us() < producer.give_up_us) {
        /* Done early once every write is answered and its event reached every subscriber. */
        long delivered = 0;
        for (int reader = 0; reader < FANOUT_READERS; reader++)
            delivered += atomic_load(&readers[reader].delivered);
        if (atomic_load(&producer.done)
            && delivered >= atomic_load(&producer.answered) * fanout.subscribers)
            break;
        usleep(10000);
    }
    atomic_store(&fanout.stop, true);
    for (int reader = 0; reader < FANOUT_READERS; reader++)
        pthread_join(readers[reader].thread, NULL);
    int64_t server_cpu_us = server_pid > 0 ? cpu_us(server_pid) - cpu_before_us : -1;
    /* A producer still blocked in send() when the time is up is left to exit() with us. */
    if (atomic_load(&producer.done))
        pthread_join(thread, NULL);
    else
        pthread_detach(thread);

    /* The first reader takes in the others' figures: the run's totals. */
    struct reader *all = &readers[0];
    for (int index = 1; index < FANOUT_READERS; index++) {
        struct reader *reader = &readers[index];
        all->ended += reader->ended;
        all->gaps += reader->gaps;
        all->lost += reader->lost;
        all->unknown += reader->unknown;
        all->delivered += atomic_load(&reader->delivered);
        histogram_merge(&all->latency, &reader->latency);
    }
    if (all->unknown > 0)
        failf("%ld events were for keys the producer did not write", all->unknown);
    long sent = atomic_load(&producer.sent), events = atomic_load(&producer.answered);
    long fewest = events, complete = 0;
    for (long index = 0; index < fanout.subscribers; index++) {
        if (fanout.per_subscriber[index] < fewest)
            fewest = fanout.per_subscriber[index];
        if (fanout.per_subscriber[index] == events)
            complete++;
    }
    double writing_seconds =
        (double) (atomic_load(&producer.last_answer_us) - producer.started_us) / 1e6;
    printf("subscribers=%ld connecting_seconds=%.3f writes=%ld sent=%ld events=%ld "
           "writing_seconds=%.3f write_rate=%.1f expected=%ld delivered=%ld "
           "complete_subscribers=%ld fewest_per_subscriber=%ld ended_streams=%ld gaps=%ld lost=%ld",
           fanout.subscribers, connecting_seconds, producer.total, sent, events,
           writing_seconds > 0 ? writing_seconds : 0,
           writing_seconds > 0 ? (double) events / writing_seconds : 0,
           events * fanout.subscribers, (long) all->delivered, complete, fewest, all->ended, all->gaps,
           all->lost);
    print_histogram("latency", &all->latency);
    print_server_cpu(server_cpu_us, all->delivered);
    printf("\n");
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "expiry") == 0)
        return run_expiry(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "fanout") == 0)
        return run_fanout(argc, argv);
    fprintf(stderr,
            "usage: %s expiry keygate|redis PORT KEYS LEAD_MS SPREAD_MS SETTLE_MS MEASURE_MS "
            "GRACE_MS CONNECTIONS DEPTH\n"
            "       %s fanout PORT SUBSCRIBERS RATE SECONDS DRAIN_MS [SERVER_PID]\n",
            argv[0], argv[0]);
    return 2;
}
