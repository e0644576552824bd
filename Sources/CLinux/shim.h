// Linux's epoll, eventfd and thread names, which Glibc's Swift module does not cover. Only
// Plumbing imports this module. Every function is a thin `static inline` forwarder; no logic
// lives in C.
#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

// `struct epoll_event` is packed on x86_64, which Swift cannot build, so events are read here
// and only their 64-bit ids cross over.

/// A new epoll set, closed on exec.
static inline int
clinux_epoll_create(void)
{
    return epoll_create1(EPOLL_CLOEXEC);
}

/// Names the calling thread, as `top -H` and /proc show it (the first 15 bytes).
static inline int
clinux_name_this_thread(const char *name)
{
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}

/// A new non-blocking event descriptor, closed on exec.
static inline int
clinux_eventfd_create(void)
{
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/// What a descriptor is watched for: the bits of `struct epoll_event.events`.
enum clinux_interest {
    CLINUX_READABLE = EPOLLIN,
    CLINUX_WRITABLE = EPOLLOUT,
    CLINUX_HANG_UP = EPOLLRDHUP | EPOLLHUP | EPOLLERR,
    CLINUX_ONE_SHOT = EPOLLONESHOT,
};

/// Adds `fd` to the set (`add`) or changes its watch, reporting `id` for its events.
static inline int
clinux_epoll_watch(int epoll, int fd, uint64_t id, uint32_t interest, bool add)
{
    struct epoll_event event = { .events = interest, .data.u64 = id };
    return epoll_ctl(epoll, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

/// Removes `fd` from the set.
static inline int
clinux_epoll_unwatch(int epoll, int fd)
{
    return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
}

/// Waits for events (at most `capacity`, at most 64) and stores their ids; returns their
/// number, or -1 with `errno` set.
static inline int
clinux_epoll_wait_ids(int epoll, uint64_t *ids, int capacity, int timeout_milliseconds)
{
    struct epoll_event events[64];
    int count = epoll_wait(epoll, events, capacity < 64 ? capacity : 64, timeout_milliseconds);
    for (int index = 0; index < count; index++)
        ids[index] = events[index].data.u64;
    return count;
}

#endif
