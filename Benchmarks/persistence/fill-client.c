/*
 * The persistence benchmark's loader: stores KEYS distinct keys in Keygate as fast as
 * CONNECTIONS connections with DEPTH pipelined writes in flight on each allow. Loopback only.
 *
 * Usage:
 *   fill-client PORT KEYS CONNECTIONS DEPTH PREFIX
 *       Sends PUT /v1/cache/<PREFIX><n> with the 5-byte body `hello` for n from 0 to KEYS - 1,
 *       each key once, and checks that every answer is 2xx.
 *
 * Prints one line of key=value figures: keys=… seconds=… rate=… (writes answered per second).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <unistd.h>

#include "../common/client.h"

enum {
    READ_CAPACITY = 1 << 16, /* one read from a socket */
    PENDING_CAPACITY = 1 << 18, /* unparsed answers of one connection */
    MAX_DEPTH = 256, /* writes in flight per connection, at most */
    REQUEST_CAPACITY = 256, /* one request */
    MAX_CONNECTIONS = 256,
};

/* One loading connection: its answers not parsed yet, and how many writes await an answer. */
struct loader {
    int fd;
    int in_flight;
    size_t pending_length;
    char pending[PENDING_CAPACITY];
};

/* Parses the complete responses at the start of BUFFER and checks that each is 2xx. Returns
   the bytes they take; *COUNT gets how many. */
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

/* Sends writes on LOADER until DEPTH are in flight or every key has been sent. */
static void
send_writes(struct loader *loader, int depth, const char *prefix, long *next, long keys)
{
    static char buffer[MAX_DEPTH * REQUEST_CAPACITY];
    size_t length = 0;
    while (loader->in_flight < depth && *next < keys) {
        length += (size_t) snprintf(buffer + length, sizeof buffer - length,
                                    "PUT /v1/cache/%s%ld HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
                                    prefix, (*next)++);
        loader->in_flight++;
    }
    if (length > 0)
        send_all(loader->fd, buffer, length);
}

int
main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT KEYS CONNECTIONS DEPTH PREFIX\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long keys = atol(argv[2]);
    int connections = atoi(argv[3]);
    int depth = atoi(argv[4]);
    const char *prefix = argv[5];
    if (port <= 0 || keys <= 0 || connections <= 0 || connections > MAX_CONNECTIONS || depth <= 0
        || depth > MAX_DEPTH || strlen(prefix) > 64)
        failf("bad arguments: PORT KEYS > 0, 1 <= CONNECTIONS <= %d, 1 <= DEPTH <= %d, a short PREFIX",
              MAX_CONNECTIONS, MAX_DEPTH);

    struct loader *loaders = calloc((size_t) connections, sizeof *loaders);
    if (loaders == NULL)
        fail("calloc loaders");
    int epoll = epoll_create1(0);
    if (epoll < 0)
        fail("epoll_create1");
    long next = 0, answered = 0;
    int64_t started_us = monotonic_us();
    for (int index = 0; index < connections; index++) {
        loaders[index].fd = add_to_epoll(epoll, connect_to(port), (uint32_t) index);
        send_writes(&loaders[index], depth, prefix, &next, keys);
    }
    static char chunk[READ_CAPACITY];
    struct epoll_event events[MAX_CONNECTIONS];
    while (answered < keys) {
        int ready = epoll_wait(epoll, events, MAX_CONNECTIONS, 10000);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait");
        }
        if (ready == 0)
            failf("no answer for 10 s, %ld of %ld writes answered", answered, keys);
        for (int event = 0; event < ready; event++) {
            struct loader *loader = &loaders[events[event].data.u32];
            ssize_t got = recv(loader->fd, chunk, sizeof chunk, 0);
            if (got <= 0)
                failf("the server closed a connection (%s), %ld of %ld writes answered",
                      got == 0 ? "end of stream" : strerror(errno), answered, keys);
            if (loader->pending_length + (size_t) got > PENDING_CAPACITY)
                failf("more than %d bytes of answers unparsed", PENDING_CAPACITY);
            memcpy(loader->pending + loader->pending_length, chunk, (size_t) got);
            loader->pending_length += (size_t) got;
            int count;
            size_t used = take_http_answers(loader->pending, loader->pending_length, &count);
            memmove(loader->pending, loader->pending + used, loader->pending_length - used);
            loader->pending_length -= used;
            loader->in_flight -= count;
            answered += count;
            send_writes(loader, depth, prefix, &next, keys);
        }
    }
    double seconds = (double) (monotonic_us() - started_us) / 1e6;
    printf("keys=%ld seconds=%.3f rate=%.0f\n", keys, seconds, (double) keys / seconds);
    for (int index = 0; index < connections; index++)
        close(loaders[index].fd);
    return 0;
}
