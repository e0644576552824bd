/*
 * What the benchmark clients share: failing with a message, clocks, blocking loopback sockets,
 * epoll, and a latency histogram. Header-only (static functions): each client is one gcc call.
 * Define _GNU_SOURCE before the first include.
 */
#ifndef KEYGATE_BENCH_CLIENT_H
#define KEYGATE_BENCH_CLIENT_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

/* --- Failing, clocks, sockets ------------------------------------------------------------- */

static inline void __attribute__((noreturn))
fail(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
    exit(1);
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
failf(const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
    exit(1);
}

/* Unix time in microseconds: the clock the servers stamp events and deadlines with. */
static inline int64_t
unix_us(void)
{
    struct timespec time;
    clock_gettime(CLOCK_REALTIME, &time);
    return (int64_t) time.tv_sec * 1000000 + time.tv_nsec / 1000;
}

static inline int64_t
monotonic_us(void)
{
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (int64_t) time.tv_sec * 1000000 + time.tv_nsec / 1000;
}

/* A blocking connection to the server on loopback; reads that must not block pass
   MSG_DONTWAIT. */
static inline int
connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail("socket");
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &address, sizeof address) != 0)
        fail("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline void
send_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
        if (sent <= 0)
            fail("send");
        data += sent;
        length -= (size_t) sent;
    }
}

/* Raises the open-file limit to its hard maximum; fails if that is below NEEDED. */
static inline void
raise_file_limit(long needed)
{
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < (rlim_t) needed)
        failf("the open-file limit %lu is too low for %ld sockets", (unsigned long) limit.rlim_cur,
              needed);
}

static inline int
add_to_epoll(int epoll, int fd, uint32_t tag)
{
    struct epoll_event event = { .events = EPOLLIN, .data.u32 = tag };
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0)
        fail("epoll_ctl");
    return fd;
}

/* The resident memory of process PID in KiB (VmRSS of /proc/PID/status). */
static inline long
rss_kib(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *status = fopen(path, "r");
    if (status == NULL)
        fail("open the server's /proc status");
    long kib = -1;
    while (fgets(line, sizeof line, status) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(status);
    if (kib < 0)
        failf("no VmRSS for process %ld", pid);
    return kib;
}

/* The CPU time all threads of process PID have run so far, in microseconds: the sum of the
   first field of each /proc/PID/task/TID/schedstat (nanoseconds on a CPU, user and system together),
   which unlike /proc/PID/stat is not rounded to clock ticks. A thread that ended is no longer
   counted, so take both readings while the server's threads live. */
static inline int64_t
cpu_us(long pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *tasks = opendir(path);
    if (tasks == NULL)
        fail("open the server's /proc tasks");
    int64_t total_ns = 0;
    struct dirent *task;
    while ((task = readdir(tasks)) != NULL) {
        if (task->d_name[0] == '.')
            continue;
        char stat_path[64];
        snprintf(stat_path, sizeof stat_path, "/proc/%ld/task/%.20s/schedstat", pid, task->d_name);
        FILE *schedstat = fopen(stat_path, "r");
        if (schedstat == NULL)
            continue; /* the thread ended meanwhile */
        long long ns;
        if (fgets(line, sizeof line, schedstat) != NULL && sscanf(line, "%lld", &ns) == 1)
            total_ns += ns;
        fclose(schedstat);
    }
    closedir(tasks);
    return total_ns / 1000;
}

/* --- HTTP answers ------------------------------------------------------------------------- */

/* The value of header NAME in the response head HEAD (LENGTH bytes, lines ending in CRLF), or
   NULL. */
static inline const char *
header_value(const char *head, size_t length, const char *name)
{
    size_t name_length = strlen(name);
    const char *end = head + length;
    const char *line = memchr(head, '\n', length);
    while (line != NULL && ++line < end) {
        if ((size_t) (end - line) > name_length && line[name_length] == ':'
            && strncasecmp(line, name, name_length) == 0) {
            const char *value = line + name_length + 1;
            while (value < end && *value == ' ')
                value++;
            return value;
        }
        line = memchr(line, '\n', (size_t) (end - line));
    }
    return NULL;
}

/* --- Latency histogram -------------------------------------------------------------------- */

/* Latencies in 10 us bins from -1 s to 30 s; values outside land in the edge bins, and the
   exact extremes are kept aside. The server's clocks have millisecond resolution, so finer
   bins would add nothing. */
enum {
    BIN_US = 10,
    LOWEST_US = -1000000,
    HIGHEST_US = 30000000,
    BINS = (HIGHEST_US - LOWEST_US) / BIN_US,
};

struct histogram {
    uint32_t *bins;
    uint64_t count;
    int64_t minimum_us, maximum_us;
};

static inline void
histogram_init(struct histogram *histogram)
{
    histogram->bins = calloc(BINS, sizeof *histogram->bins);
    if (histogram->bins == NULL)
        fail("calloc histogram");
    histogram->count = 0;
    histogram->minimum_us = INT64_MAX;
    histogram->maximum_us = INT64_MIN;
}

static inline void
histogram_add(struct histogram *histogram, int64_t value_us)
{
    int64_t bin = (value_us - LOWEST_US) / BIN_US;
    bin = bin < 0 ? 0 : bin >= BINS ? BINS - 1 : bin;
    histogram->bins[bin]++;
    histogram->count++;
    if (value_us < histogram->minimum_us)
        histogram->minimum_us = value_us;
    if (value_us > histogram->maximum_us)
        histogram->maximum_us = value_us;
}

/* Adds every sample of FROM to INTO. */
static inline void
histogram_merge(struct histogram *into, const struct histogram *from)
{
    for (int64_t bin = 0; bin < BINS; bin++)
        into->bins[bin] += from->bins[bin];
    into->count += from->count;
    if (from->minimum_us < into->minimum_us)
        into->minimum_us = from->minimum_us;
    if (from->maximum_us > into->maximum_us)
        into->maximum_us = from->maximum_us;
}

/* The nearest-rank percentile in ms, to the bin: the lower edge of the bin holding it (exact
   for the servers' whole milliseconds), kept within the extremes. */
static inline double
histogram_percentile_ms(const struct histogram *histogram, double fraction)
{
    uint64_t rank = (uint64_t) (fraction * (double) histogram->count + 0.999999);
    rank = rank < 1 ? 1 : rank;
    uint64_t seen = 0;
    int64_t bin = 0;
    while (bin < BINS - 1 && (seen += histogram->bins[bin]) < rank)
        bin++;
    int64_t edge = LOWEST_US + bin * BIN_US;
    edge = edge < histogram->minimum_us ? histogram->minimum_us : edge;
    edge = edge > histogram->maximum_us ? histogram->maximum_us : edge;
    return (double) edge / 1e3;
}

/* Prints " NAME_p50_ms=… NAME_p99_ms=… NAME_max_ms=…", or nulls when there is no sample. */
static inline void
print_histogram(const char *name, const struct histogram *histogram)
{
    if (histogram->count == 0) {
        printf(" %s_p50_ms=null %s_p99_ms=null %s_max_ms=null", name, name, name);
        return;
    }
    printf(" %s_p50_ms=%.2f %s_p99_ms=%.2f %s_max_ms=%.2f", name,
           histogram_percentile_ms(histogram, 0.50), name,
           histogram_percentile_ms(histogram, 0.99), name,
           (double) histogram->maximum_us / 1e3);
}

/* Prints " server_cpu_ms=… cpu_per_delivery_us=…" for CPU_US microseconds of server CPU spent
   on DELIVERIES, or nulls when the CPU was not read (CPU_US < 0). */
static inline void
print_server_cpu(int64_t cpu_us, long deliveries)
{
    if (cpu_us < 0) {
        printf(" server_cpu_ms=null cpu_per_delivery_us=null");
        return;
    }
    printf(" server_cpu_ms=%.1f", (double) cpu_us / 1e3);
    if (deliveries > 0)
        printf(" cpu_per_delivery_us=%.3f", (double) cpu_us / (double) deliveries);
    else
        printf(" cpu_per_delivery_us=null");
}

#endif
