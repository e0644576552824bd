/*
 * The WebSocket benchmark's client, for Keygate's /v1/ws. Loopback only.
 *
 * Usage:
 *   websocket-client round-trip PORT COUNT
 *       Stores a 5-byte value at bench-ws, then times COUNT round trips of
 *       {"id":n,"op":"get","key":"bench-ws"} on one WebSocket, each sent when the previous reply
 *       has arrived, and as the reference measured in the same run, COUNT round trips of
 *       GET /v1/cache/bench-ws on one keep-alive HTTP connection; the two alternate in blocks
 *       of 1000. Prints the p50, p99 and maximum of each, in microseconds.
 *   websocket-client fanout PORT SOCKETS KEYS SERVER_PID
 *       Opens SOCKETS WebSockets (a batch at a time), each subscribed to the `expired` events of
 *       wsfan:*, and reads the server's RSS (/proc/SERVER_PID/status) before and after. Then
 *       one more socket sets KEYS keys whose deadlines are spread over 1 s, starting 1 s ahead;
 *       each key is wsfan:<deadline, Unix ms>:<n>. Every delivery of an `expired` event is
 *       timed twice: from the key's deadline (lateness: expiry and delivery together), and from
 *       the event's `time`, the server's clock in whole ms (delivery alone, give or take 1 ms).
 *       Deliveries still missing 10 s after the last deadline count as missing. Two threads
 *       read the sockets, half each. The server's
 *       CPU time (all its threads) from the first write to the last delivery is printed in all
 *       and per delivery.
 *
 * Prints one line of key=value figures; a figure with no sample is `null`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
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
    FRAME_CAPACITY = 1 << 16,  /* the largest message this client expects */
    SOCKET_CAPACITY = 1 << 13, /* unparsed bytes of one fan-out socket */
    OPEN_BATCH = 500,          /* sockets opened before waiting for their subscriptions */
    ROUND_TRIP_BLOCK = 1000,   /* round trips of one kind before switching to the other */
    DRAIN_MS = 10000,          /* how long deliveries may arrive after the last deadline */
};

static const char handshake[] = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/* --- Frames ------------------------------------------------------------------------------- */

/* Sends PAYLOAD as one masked frame with OPCODE, as a client must. */
static void
send_frame(int fd, int opcode, const char *payload, size_t length)
{
    static const uint8_t mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    uint8_t frame[14 + FRAME_CAPACITY];
    size_t head = 2;
    if (length > FRAME_CAPACITY)
        failf("a frame of %zu bytes is too large", length);
    frame[0] = (uint8_t) (0x80 | opcode);
    if (length < 126) {
        frame[1] = (uint8_t) (0x80 | length);
    } else {
        frame[1] = 0x80 | 126;
        frame[2] = (uint8_t) (length >> 8);
        frame[3] = (uint8_t) length;
        head = 4;
    }
    memcpy(frame + head, mask, 4);
    for (size_t index = 0; index < length; index++)
        frame[head + 4 + index] = (uint8_t) payload[index] ^ mask[index % 4];
    send_all(fd, (const char *) frame, head + 4 + length);
}

static void
send_text(int fd, const char *text)
{
    send_frame(fd, 0x1, text, strlen(text));
}

/* Finds the first complete server frame in BUFFER: returns the bytes it takes, or 0 when it
   is incomplete; *OPCODE, *PAYLOAD and *LENGTH describe it. */
static size_t
next_frame(const char *buffer, size_t available, int *opcode, const char **payload, size_t *length)
{
    if (available < 2)
        return 0;
    const uint8_t *bytes = (const uint8_t *) buffer;
    if (bytes[1] & 0x80)
        failf("the server masked a frame");
    size_t head = 2;
    uint64_t size = bytes[1] & 0x7F;
    if (size == 126) {
        if (available < 4)
            return 0;
        size = (uint64_t) bytes[2] << 8 | bytes[3];
        head = 4;
    } else if (size == 127) {
        if (available < 10)
            return 0;
        size = 0;
        for (int index = 2; index < 10; index++)
            size = size << 8 | bytes[index];
        head = 10;
    }
    if (available - head < size)
        return 0;
    *opcode = bytes[0] & 0x0F;
    *payload = buffer + head;
    *length = (size_t) size;
    return head + (size_t) size;
}

/* Connects, sends the handshake, and checks the 101 with a blocking read; returns the socket
   and copies any frame bytes read after the head into BUFFER (*USED of them). */
static int
open_websocket(int port, char *buffer, size_t capacity, size_t *used)
{
    int fd = connect_to(port);
    send_all(fd, handshake, sizeof handshake - 1);
    size_t length = 0;
    for (;;) {
        ssize_t count = recv(fd, buffer + length, capacity - length - 1, 0);
        if (count <= 0)
            fail("reading the handshake's answer");
        length += (size_t) count;
        buffer[length] = '\0';
        const char *end = memmem(buffer, length, "\r\n\r\n", 4);
        if (end == NULL)
            continue;
        if (strncmp(buffer, "HTTP/1.1 101", 12) != 0)
            failf("the handshake was answered %.*s", (int) strcspn(buffer, "\r"), buffer);
        size_t head = (size_t) (end - buffer) + 4;
        memmove(buffer, buffer + head, length - head);
        *used = length - head;
        return fd;
    }
}

/* Reads one text message on a blocking socket into MESSAGE (NUL-terminated), answering pings;
   BUFFER holds *USED bytes already read. */
static void
read_message(int fd, char *buffer, size_t capacity, size_t *used, char *message)
{
    for (;;) {
        int opcode;
        const char *payload;
        size_t length;
        size_t taken = next_frame(buffer, *used, &opcode, &payload, &length);
        if (taken > 0) {
            if (opcode == 0x1) {
                memcpy(message, payload, length);
                message[length] = '\0';
            } else if (opcode == 0x9) {
                send_frame(fd, 0xA, payload, length);
            } else {
                failf("the server sent a frame with opcode %d: %.*s", opcode, (int) length, payload);
            }
            memmove(buffer, buffer + taken, *used - taken);
            *used -= taken;
            if (opcode == 0x1)
                return;
            continue;
        }
        ssize_t count = recv(fd, buffer + *used, capacity - *used, 0);
        if (count <= 0)
            fail("reading a message");
        *used += (size_t) count;
    }
}

/* --- Round trips -------------------------------------------------------------------------- */

static int
compare_int64(const void *left, const void *right)
{
    int64_t a = *(const int64_t *) left, b = *(const int64_t *) right;
    return (a > b) - (a < b);
}

/* Prints " NAME_p50_us=… NAME_p99_us=… NAME_max_us=…" of COUNT samples, which it sorts. */
static void
print_round_trips(const char *name, int64_t *samples, long count)
{
    qsort(samples, (size_t) count, sizeof *samples, compare_int64);
    printf(" %s_p50_us=%lld %s_p99_us=%lld %s_max_us=%lld", name,
           (long long) samples[(count - 1) / 2], name, (long long) samples[(count * 99 - 1) / 100],
           name, (long long) samples[count - 1]);
}

/* One GET /v1/cache/bench-ws on the keep-alive connection FD, read to the end of its body. */
static void
http_get(int fd, char *buffer, size_t capacity)
{
    static const char request[] = "GET /v1/cache/bench-ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    send_all(fd, request, sizeof request - 1);
    size_t length = 0;
    for (;;) {
        ssize_t count = recv(fd, buffer + length, capacity - length, 0);
        if (count <= 0)
            fail("reading a GET's answer");
        length += (size_t) count;
        const char *end = memmem(buffer, length, "\r\n\r\n", 4);
        if (end == NULL)
            continue;
        size_t head = (size_t) (end - buffer) + 4;
        const char *content_length = header_value(buffer, head, "Content-Length");
        if (strncmp(buffer, "HTTP/1.1 200", 12) != 0 || content_length == NULL)
            failf("GET /v1/cache/bench-ws was answered %.*s", (int) strcspn(buffer, "\r"), buffer);
        if (length >= head + strtoul(content_length, NULL, 10))
            return;
    }
}

static void
round_trip(int port, long count)
{
    static char buffer[FRAME_CAPACITY], message[FRAME_CAPACITY + 1], request[128];
    size_t used = 0;
    int websocket = open_websocket(port, buffer, sizeof buffer, &used);
    send_text(websocket, "{\"id\":0,\"op\":\"set\",\"key\":\"bench-ws\",\"value\":\"hello\"}");
    read_message(websocket, buffer, sizeof buffer, &used, message);
    if (strstr(message, "\"ok\":true") == NULL)
        failf("storing bench-ws was answered %s", message);
    int http = connect_to(port);
    int64_t *websocket_us = calloc((size_t) count, sizeof *websocket_us);
    int64_t *http_us = calloc((size_t) count, sizeof *http_us);
    if (websocket_us == NULL || http_us == NULL)
        fail("calloc");
    for (long start = 0; start < count; start += ROUND_TRIP_BLOCK) {
        long end = start + ROUND_TRIP_BLOCK < count ? start + ROUND_TRIP_BLOCK : count;
        for (long index = start; index < end; index++) {
            snprintf(request, sizeof request, "{\"id\":%ld,\"op\":\"get\",\"key\":\"bench-ws\"}",
                     index + 1);
            int64_t sent = monotonic_us();
            send_text(websocket, request);
            read_message(websocket, buffer, sizeof buffer, &used, message);
            websocket_us[index] = monotonic_us() - sent;
            if (strstr(message, "\"value\":\"hello\"") == NULL)
                failf("a get was answered %s", message);
        }
        for (long index = start; index < end; index++) {
            int64_t sent = monotonic_us();
            http_get(http, buffer, sizeof buffer);
            http_us[index] = monotonic_us() - sent;
        }
    }
    printf("round_trips=%ld", count);
    print_round_trips("websocket", websocket_us, count);
    print_round_trips("http", http_us, count);
    printf("\n");
    close(http);
    close(websocket);
}

/* --- Fan-out ------------------------------------------------------------------------------ */

struct fanout_socket {
    int fd;
    bool is_subscribed;
    size_t used;
    char buffer[SOCKET_CAPACITY];
};

/* The sockets are read by this many threads, each with its own share and epoll set, so that
   reading ten thousand sockets is not one thread's serial work: a real deployment's
   subscribers are ten thousand clients that read at once. */
enum { FANOUT_READERS = 2 };

struct fanout {
    struct fanout_socket *sockets;
    long opened;
    atomic_long subscribed, delivered;
    long expected;
    atomic_bool stop;
};

/* One reading thread: its sockets' epoll set and their deliveries' times. */
struct reader {
    pthread_t thread;
    struct fanout *fanout;
    int epoll;
    struct histogram lateness, delivery;
};

/* One text message of a subscribed socket: the subscription's reply, or an event. */
static void
fanout_message(struct reader *reader, struct fanout_socket *socket, const char *text, size_t length,
               int64_t arrival_us)
{
    char message[1024];
    if (length >= sizeof message)
        failf("an unexpected message of %zu bytes", length);
    memcpy(message, text, length);
    message[length] = '\0';
    const char *key = strstr(message, "\"key\":\"wsfan:");
    const char *time = strstr(message, "\"time\":");
    if (key != NULL && time != NULL && strstr(message, "\"type\":\"expired\"") != NULL) {
        int64_t deadline_ms = strtoll(key + strlen("\"key\":\"wsfan:"), NULL, 10);
        int64_t time_ms = strtoll(time + strlen("\"time\":"), NULL, 10);
        histogram_add(&reader->lateness, arrival_us - deadline_ms * 1000);
        histogram_add(&reader->delivery, arrival_us - time_ms * 1000);
        atomic_fetch_add_explicit(&reader->fanout->delivered, 1, memory_order_relaxed);
    } else if (!socket->is_subscribed && strstr(message, "\"subscription\":1") != NULL
               && strstr(message, "\"ok\":true") != NULL) {
        socket->is_subscribed = true;
        atomic_fetch_add_explicit(&reader->fanout->subscribed, 1, memory_order_relaxed);
    } else {
        failf("an unexpected message: %s", message);
    }
}

/* Reads what socket INDEX has, once (the epoll set is level-triggered: more is reported
   again), and handles every complete frame. */
static void
fanout_read(struct reader *reader, uint32_t index)
{
    struct fanout_socket *socket = &reader->fanout->sockets[index];
    ssize_t count = recv(socket->fd, socket->buffer + socket->used,
                         sizeof socket->buffer - socket->used, MSG_DONTWAIT);
    if (count == 0)
        failf("the server closed socket %u", index);
    if (count < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        fail("recv");
    }
    int64_t arrival_us = unix_us();
    socket->used += (size_t) count;
    size_t offset = 0, taken;
    int opcode;
    const char *payload;
    size_t length;
    while ((taken = next_frame(socket->buffer + offset, socket->used - offset, &opcode, &payload,
                               &length))
           > 0) {
        if (opcode == 0x1)
            fanout_message(reader, socket, payload, length, arrival_us);
        else if (opcode == 0x9)
            send_frame(socket->fd, 0xA, payload, length);
        else
            failf("socket %u got a frame with opcode %d", index, opcode);
        offset += taken;
    }
    memmove(socket->buffer, socket->buffer + offset, socket->used - offset);
    socket->used -= offset;
}

/* Reads every socket of READER's epoll set that has something, waiting at most TIMEOUT_MS. */
static void
fanout_read_ready(struct reader *reader, int timeout_ms)
{
    struct epoll_event events[256];
    int count = epoll_wait(reader->epoll, events, 256, timeout_ms);
    if (count < 0 && errno != EINTR)
        fail("epoll_wait");
    for (int index = 0; index < count; index++)
        fanout_read(reader, events[index].data.u32);
}

static void *
read_until_stopped(void *argument)
{
    struct reader *reader = argument;
    while (!atomic_load(&reader->fanout->stop))
        fanout_read_ready(reader, 20);
    return NULL;
}

static void
reader_init(struct reader *reader, struct fanout *fanout)
{
    *reader = (struct reader) { .fanout = fanout, .epoll = epoll_create1(0) };
    if (reader->epoll < 0)
        fail("epoll_create1");
    histogram_init(&reader->lateness);
    histogram_init(&reader->delivery);
}

static void
fanout(int port, long sockets, long keys, long server_pid)
{
    static const char subscribe[] =
        "{\"id\":1,\"op\":\"subscribe\",\"key\":\"wsfan:*\",\"type\":[\"expired\"]}";
    static char buffer[FRAME_CAPACITY], message[FRAME_CAPACITY + 1], request[256];
    raise_file_limit(sockets + 64);
    static struct fanout fanout;
    fanout.sockets = calloc((size_t) sockets, sizeof(struct fanout_socket));
    if (fanout.sockets == NULL)
        fail("calloc sockets");
    static struct reader readers[FANOUT_READERS];
    for (int reader = 0; reader < FANOUT_READERS; reader++)
        reader_init(&readers[reader], &fanout);

    /* Each batch is opened and subscribed through the first reader's epoll set; then each
       reader takes its share. */
    struct reader *opener = &readers[0];
    long rss_before = rss_kib(server_pid);
    int64_t opening = monotonic_us();
    while (fanout.opened < sockets) {
        long batch_end = fanout.opened + OPEN_BATCH < sockets ? fanout.opened + OPEN_BATCH : sockets;
        for (; fanout.opened < batch_end; fanout.opened++) {
            struct fanout_socket *socket = &fanout.sockets[fanout.opened];
            socket->fd = open_websocket(port, socket->buffer, sizeof socket->buffer, &socket->used);
            send_text(socket->fd, subscribe);
            add_to_epoll(opener->epoll, socket->fd, (uint32_t) fanout.opened);
        }
        int64_t give_up_us = unix_us() + 30000000;
        while (atomic_load(&fanout.subscribed) < fanout.opened && unix_us() < give_up_us)
            fanout_read_ready(opener, 100);
        if (atomic_load(&fanout.subscribed) < fanout.opened)
            failf("%ld of %ld sockets subscribed within 30 s", atomic_load(&fanout.subscribed),
                  fanout.opened);
    }
    double open_seconds = (double) (monotonic_us() - opening) / 1e6;
    long rss_subscribed = rss_kib(server_pid);
    for (long index = 0; index < sockets; index++) {
        struct reader *reader = &readers[index % FANOUT_READERS];
        if (reader == opener)
            continue;
        if (epoll_ctl(opener->epoll, EPOLL_CTL_DEL, fanout.sockets[index].fd, NULL) < 0)
            fail("epoll_ctl");
        add_to_epoll(reader->epoll, fanout.sockets[index].fd, (uint32_t) index);
    }
    fanout.expected = sockets * keys;
    for (int reader = 0; reader < FANOUT_READERS; reader++)
        if (pthread_create(&readers[reader].thread, NULL, read_until_stopped, &readers[reader]) != 0)
            failf("cannot start a reader thread");

    /* The writer: one more socket, whose replies are read at once. */
    int64_t cpu_before_us = cpu_us(server_pid);
    size_t used = 0;
    int writer = open_websocket(port, buffer, sizeof buffer, &used);
    int64_t first_deadline_ms = unix_us() / 1000 + 1000, last_deadline_ms = first_deadline_ms;
    for (long index = 0; index < keys; index++) {
        int64_t deadline_ms = first_deadline_ms + index * 1000 / keys;
        double ttl = (double) (deadline_ms * 1000 - unix_us()) / 1e6;
        snprintf(request, sizeof request,
                 "{\"id\":%ld,\"op\":\"set\",\"key\":\"wsfan:%lld:%ld\",\"value\":\"x\",\"ttl\":%.6f}",
                 index, (long long) deadline_ms, index, ttl);
        send_text(writer, request);
        read_message(writer, buffer, sizeof buffer, &used, message);
        if (strstr(message, "\"ok\":true") == NULL)
            failf("a set was answered %s", message);
        last_deadline_ms = deadline_ms;
    }
    while (atomic_load(&fanout.delivered) < fanout.expected
           && unix_us() < (last_deadline_ms + DRAIN_MS) * 1000)
        usleep(10000);
    atomic_store(&fanout.stop, true);
    for (int reader = 0; reader < FANOUT_READERS; reader++)
        pthread_join(readers[reader].thread, NULL);
    int64_t server_cpu_us = cpu_us(server_pid) - cpu_before_us;
    long rss_after = rss_kib(server_pid);

    /* The first reader takes in the others' times: the run's totals. */
    struct reader *all = &readers[0];
    for (int reader = 1; reader < FANOUT_READERS; reader++) {
        histogram_merge(&all->lateness, &readers[reader].lateness);
        histogram_merge(&all->delivery, &readers[reader].delivery);
    }
    long delivered = atomic_load(&fanout.delivered);
    printf("sockets=%ld keys=%ld expected=%ld delivered=%ld missing=%ld open_seconds=%.2f "
           "rss_before_kib=%ld rss_subscribed_kib=%ld rss_after_kib=%ld "
           "rss_per_socket_kib=%.2f rss_per_socket_after_kib=%.2f",
           sockets, keys, fanout.expected, delivered, fanout.expected - delivered, open_seconds,
           rss_before, rss_subscribed, rss_after,
           (double) (rss_subscribed - rss_before) / (double) sockets,
           (double) (rss_after - rss_before) / (double) sockets);
    print_histogram("lateness", &all->lateness);
    print_histogram("delivery", &all->delivery);
    print_server_cpu(server_cpu_us, delivered);
    printf("\n");
    close(writer);
    for (long index = 0; index < sockets; index++)
        close(fanout.sockets[index].fd);
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "round-trip") == 0) {
        round_trip(atoi(argv[2]), atol(argv[3]));
    } else if (argc == 6 && strcmp(argv[1], "fanout") == 0) {
        fanout(atoi(argv[2]), atol(argv[3]), atol(argv[4]), atol(argv[5]));
    } else {
        fprintf(stderr, "usage: websocket-client round-trip PORT COUNT\n"
                        "       websocket-client fanout PORT SOCKETS KEYS SERVER_PID\n");
        return 2;
    }
    return 0;
}
