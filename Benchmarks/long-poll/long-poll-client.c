/*
 * The long-poll benchmark's client: parks N consumers on one queue of a running Keygate, reads
 * the server's RSS before and after, then pushes one message at a time and measures how long
 * each takes to reach its consumer (push sent -> consumer's answer readable).
 *
 * Usage: long-poll-client PORT SERVER_PID [CONSUMERS]
 * Prints one line of key=value figures. Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/client.h"

static const char pop_request[] =
    "POST /v1/queues/bench-long-poll/pop?wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Content-Length: 0\r\n\r\n";

static double
now_ms(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return time.tv_sec * 1e3 + time.tv_nsec / 1e6;
}

/* Reads one response with a Content-Length (or none) from a blocking socket; returns its
   status code. Good enough for Keygate's small JSON answers. */
static int
read_response(int fd, char *body, size_t capacity)
{
    char buffer[4096];
    size_t used = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t count = recv(fd, buffer + used, sizeof buffer - 1 - used, 0);
        if (count <= 0)
            fail("recv");
        used += (size_t) count;
        buffer[used] = '\0';
        end = strstr(buffer, "\r\n\r\n");
    }
    int status = atoi(buffer + 9);
    size_t length = 0;
    char *header = strcasestr(buffer, "\r\nContent-Length:");
    if (header != NULL && header < end)
        length = (size_t) strtoul(header + 17, NULL, 10);
    size_t have = used - (size_t) (end + 4 - buffer);
    size_t copied = have < capacity - 1 ? have : capacity - 1;
    memcpy(body, end + 4, copied);
    while (have < length) {
        ssize_t count = recv(fd, buffer, sizeof buffer, 0);
        if (count <= 0)
            fail("recv body");
        size_t room = capacity - 1 - copied;
        size_t take = (size_t) count < room ? (size_t) count : room;
        memcpy(body + copied, buffer, take);
        copied += take;
        have += (size_t) count;
    }
    body[copied] = '\0';
    return status;
}

/* The number of consumers parked on the benchmark's queue. */
static long
parked_consumers(int fd)
{
    static const char request[] =
        "GET /v1/queues/bench-long-poll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char body[512];
    send_all(fd, request, sizeof request - 1);
    if (read_response(fd, body, sizeof body) != 200)
        fail("queue state");
    char *consumers = strstr(body, "\"consumers\":");
    return consumers == NULL ? -1 : strtol(consumers + 12, NULL, 10);
}

static int
compare_doubles(const void *left, const void *right)
{
    double a = *(const double *) left, b = *(const double *) right;
    return (a > b) - (a < b);
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT SERVER_PID [CONSUMERS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long server = atol(argv[2]);
    int consumers = argc > 3 ? atoi(argv[3]) : 10000;

    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < (rlim_t) consumers + 64) {
        fprintf(stderr, "long-poll-client: the open-file limit %lu is too low for %d consumers\n",
                (unsigned long) limit.rlim_cur, consumers);
        return 1;
    }

    int control = connect_to(port);
    if (parked_consumers(control) != 0) {
        fprintf(stderr, "long-poll-client: the queue already has consumers\n");
        return 1;
    }
    long rss_before = rss_kib(server);

    /* Park the consumers in batches, waiting for each batch to be parked, so that the listen
       backlog never overflows. */
    int *sockets = calloc((size_t) consumers, sizeof *sockets);
    int epoll = epoll_create1(0);
    if (sockets == NULL || epoll < 0)
        fail("set-up");
    double parking_started = now_ms();
    for (int index = 0; index < consumers; index++) {
        sockets[index] = connect_to(port);
        send_all(sockets[index], pop_request, sizeof pop_request - 1);
        struct epoll_event event = { .events = EPOLLIN, .data.u32 = (uint32_t) index };
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, sockets[index], &event) != 0)
            fail("epoll_ctl");
        if ((index + 1) % 500 == 0 || index + 1 == consumers) {
            double deadline = now_ms() + 30000;
            while (parked_consumers(control) < index + 1) {
                if (now_ms() > deadline) {
                    fprintf(stderr, "long-poll-client: consumers are not parking\n");
                    return 1;
                }
                usleep(1000);
            }
        }
    }
    double parking_ms = now_ms() - parking_started;
    long rss_after = rss_kib(server);

    /* Push one message at a time; each goes to the oldest parked consumer. */
    int producer = connect_to(port);
    double *latencies = calloc((size_t) consumers, sizeof *latencies);
    char body[512];
    int delivered = 0;
    for (int index = 0; index < consumers; index++) {
        char push[256];
        int length = snprintf(push, sizeof push,
                              "POST /v1/queues/bench-long-poll HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Content-Length: %d\r\n\r\nm%05d",
                              6, index % 100000);
        double started = now_ms();
        send_all(producer, push, (size_t) length);
        struct epoll_event event;
        int ready = epoll_wait(epoll, &event, 1, 10000);
        if (ready != 1) {
            fprintf(stderr, "long-poll-client: no consumer got message %d\n", index);
            return 1;
        }
        latencies[delivered++] = now_ms() - started;
        int consumer = sockets[event.data.u32];
        epoll_ctl(epoll, EPOLL_CTL_DEL, consumer, NULL);
        if (read_response(consumer, body, sizeof body) != 200)
            fail("consumer answer");
        close(consumer);
        if (read_response(producer, body, sizeof body) != 201)
            fail("push answer");
    }
    qsort(latencies, (size_t) delivered, sizeof *latencies, compare_doubles);
    printf("consumers=%d parking_seconds=%.2f rss_before_kib=%ld rss_after_kib=%ld "
           "rss_per_consumer_kib=%.2f latency_p50_ms=%.3f latency_p99_ms=%.3f "
           "latency_max_ms=%.3f\n",
           consumers, parking_ms / 1e3, rss_before, rss_after,
           (double) (rss_after - rss_before) / consumers, latencies[delivered / 2],
           latencies[(int) (delivered * 0.99)], latencies[delivered - 1]);
    return 0;
}
