/*
 * The fan-out benchmark's reference: the least a server must do to fan server-sent events out
 * to many subscribers on this machine, in C, for the same client as Keygate
 * (events/events-client.c fanout). Loopback only; not a server to use.
 *
 * Usage: fanout-reference PORT SENDERS
 *
 * One thread reads every request: `GET /v1/events…` is answered with an event stream's head
 * and a `retry` chunk, and its socket goes to one of SENDERS sender threads, in turn;
 * `PUT /v1/cache/KEY` (with a Content-Length body) is answered 201 and appends a `set` event
 * for KEY to a shared history, stamped with the time in whole Unix milliseconds as Keygate
 * does, then wakes every sender. A sender, woken, takes every event appended since it last
 * looked, encodes them once as one chunk, and sends that chunk to each of its subscribers in
 * one send: one system call per subscriber per wake-up, nothing else. It does not filter,
 * buffer for slow clients, send heartbeats, or notice clients that leave.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_SENDERS = 16,
    HISTORY = 1 << 16,   /* events kept; a sender further behind skips to the newest */
    EVENT_CAPACITY = 256, /* one encoded event */
    REQUEST_CAPACITY = 1 << 16,
};

static void
fail(const char *what)
{
    perror(what);
    exit(1);
}

/* --- The shared history --------------------------------------------------------------------- */

static pthread_mutex_t history_lock = PTHREAD_MUTEX_INITIALIZER;
static char history[HISTORY][EVENT_CAPACITY];
static int history_length[HISTORY];
static long last_id;

/* --- Senders -------------------------------------------------------------------------------- */

struct sender {
    pthread_t thread;
    int wake; /* eventfd */
    pthread_mutex_t lock;
    int *subscribers;
    long count, capacity;
    long cursor;
};

static struct sender senders[MAX_SENDERS];
static int sender_count;

static void *
send_events(void *argument)
{
    struct sender *sender = argument;
    static __thread char chunk[HISTORY > 4096 ? 4096 * EVENT_CAPACITY + 32 : 1];
    for (;;) {
        uint64_t value;
        if (read(sender->wake, &value, sizeof value) < 0 && errno != EINTR)
            fail("read eventfd");
        /* Every event since the last look, encoded once, as one chunk. */
        size_t length = 16; /* room for the size line, filled in below */
        pthread_mutex_lock(&history_lock);
        long last = last_id;
        if (last - sender->cursor > 4096)
            sender->cursor = last - 4096;
        for (long id = sender->cursor + 1; id <= last; id++) {
            int slot = (int) (id % HISTORY);
            memcpy(chunk + length, history[slot], (size_t) history_length[slot]);
            length += (size_t) history_length[slot];
        }
        pthread_mutex_unlock(&history_lock);
        if (last == sender->cursor)
            continue;
        sender->cursor = last;
        char size[16];
        int size_length = snprintf(size, sizeof size, "%zX\r\n", length - 16);
        char *start = chunk + 16 - size_length;
        memcpy(start, size, (size_t) size_length);
        memcpy(chunk + length, "\r\n", 2);
        length += 2;
        size_t total = length - (size_t) (start - chunk);
        pthread_mutex_lock(&sender->lock);
        for (long index = 0; index < sender->count; index++)
            (void) send(sender->subscribers[index], start, total, MSG_NOSIGNAL | MSG_DONTWAIT);
        pthread_mutex_unlock(&sender->lock);
    }
    return NULL;
}

static void
add_subscriber(int fd)
{
    static long next;
    struct sender *sender = &senders[next++ % sender_count];
    pthread_mutex_lock(&sender->lock);
    if (sender->count == sender->capacity) {
        sender->capacity = sender->capacity ? sender->capacity * 2 : 1024;
        sender->subscribers = realloc(sender->subscribers, (size_t) sender->capacity * sizeof(int));
        if (sender->subscribers == NULL)
            fail("realloc");
    }
    sender->subscribers[sender->count++] = fd;
    pthread_mutex_unlock(&sender->lock);
}

/* --- Requests ------------------------------------------------------------------------------- */

struct connection {
    char buffer[REQUEST_CAPACITY];
    size_t length;
};

static void
send_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        data += sent;
        length -= (size_t) sent;
    }
}

static void
publish(const char *key, size_t key_length)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long milliseconds = (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
    pthread_mutex_lock(&history_lock);
    long id = ++last_id;
    int slot = (int) (id % HISTORY);
    history_length[slot] = snprintf(
        history[slot], EVENT_CAPACITY,
        "id: %ld\nevent: set\ndata: {\"id\":%ld,\"type\":\"set\",\"key\":\"%.*s\",\"time\":%lld}\n\n",
        id, id, (int) key_length, key, milliseconds);
    pthread_mutex_unlock(&history_lock);
    uint64_t one = 1;
    for (int index = 0; index < sender_count; index++)
        if (write(senders[index].wake, &one, sizeof one) < 0)
            fail("write eventfd");
}

/* Answers the complete requests at the start of CONNECTION's buffer; returns false when the
   socket went to a sender. */
static bool
serve(int epoll, int fd, struct connection *connection)
{
    for (;;) {
        char *head_end = memmem(connection->buffer, connection->length, "\r\n\r\n", 4);
        if (head_end == NULL)
            return true;
        size_t head_length = (size_t) (head_end - connection->buffer) + 4;
        if (strncmp(connection->buffer, "GET /v1/events", 14) == 0) {
            static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                       "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "D\r\nretry: 3000\n\n\r\n";
            epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
            send_all(fd, head, sizeof head - 1);
            add_subscriber(fd);
            return false;
        }
        size_t body = 0;
        char *content_length = strcasestr(connection->buffer, "Content-Length:");
        if (content_length != NULL && content_length < head_end)
            body = strtoul(content_length + 15, NULL, 10);
        if (connection->length < head_length + body)
            return true;
        if (strncmp(connection->buffer, "PUT /v1/cache/", 14) == 0) {
            const char *key = connection->buffer + 14;
            size_t key_length = strcspn(key, " ?");
            static const char created[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, created, sizeof created - 1);
            publish(key, key_length);
        } else {
            static const char missing[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, missing, sizeof missing - 1);
        }
        memmove(connection->buffer, connection->buffer + head_length + body,
                connection->length - head_length - body);
        connection->length -= head_length + body;
    }
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT SENDERS\n", argv[0]);
        return 2;
    }
    sender_count = atoi(argv[2]);
    if (sender_count < 1 || sender_count > MAX_SENDERS) {
        fprintf(stderr, "SENDERS must be 1 to %d\n", MAX_SENDERS);
        return 2;
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    for (int index = 0; index < sender_count; index++) {
        senders[index].wake = eventfd(0, EFD_CLOEXEC);
        pthread_mutex_init(&senders[index].lock, NULL);
        if (senders[index].wake < 0
            || pthread_create(&senders[index].thread, NULL, send_events, &senders[index]) != 0)
            fail("start a sender");
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(argv[1])),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *) &address, sizeof address) < 0 || listen(listener, 4096) < 0)
        fail("listen");
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    for (;;) {
        struct epoll_event ready[256];
        int count = epoll_wait(epoll, ready, 256, -1);
        for (int index = 0; index < count; index++) {
            if (ready[index].data.ptr == NULL) {
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct connection *connection = calloc(1, sizeof *connection + sizeof(int));
                memcpy((char *) (connection + 1), &fd, sizeof fd);
                struct epoll_event watch = { .events = EPOLLIN, .data.ptr = connection };
                epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &watch);
                continue;
            }
            struct connection *connection = ready[index].data.ptr;
            int fd;
            memcpy(&fd, (char *) (connection + 1), sizeof fd);
            ssize_t got = recv(fd, connection->buffer + connection->length,
                               REQUEST_CAPACITY - connection->length, 0);
            if (got <= 0) {
                epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                free(connection);
                continue;
            }
            connection->length += (size_t) got;
            if (!serve(epoll, fd, connection))
                free(connection);
        }
    }
}
