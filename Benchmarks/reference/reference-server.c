/*
 * The reference for the GET benchmark: a bare libmicrohttpd server answering every request
 * with a fixed 5-byte body and a Content-Type, in the daemon mode Keygate uses (epoll, a
 * thread pool of one thread per core, suspend/resume allowed). Like Keygate it answers on the
 * second call of the access handler, which keeps HTTP/1.1 connections alive on 0.9.75.
 *
 * Usage: reference-server PORT THREADS
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "hello";
static int first_call_marker;

static enum MHD_Result
answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_data_size, void **context)
{
    (void) cls; (void) url; (void) method; (void) version; (void) upload_data;
    if (NULL == *context) {
        *context = &first_call_marker;
        return MHD_YES;
    }
    *upload_data_size = 0;
    struct MHD_Response *response = MHD_create_response_from_buffer(
        sizeof(body) - 1, (void *) body, MHD_RESPMEM_PERSISTENT);
    if (NULL == response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "text/plain");
    enum MHD_Result result = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return result;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT THREADS\n", argv[0]);
        return 2;
    }
    unsigned int threads = (unsigned int) atoi(argv[2]);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
            | MHD_USE_ERROR_LOG,
        (uint16_t) atoi(argv[1]), NULL, NULL, &answer, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 10000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 16 * 1024,
        MHD_OPTION_END);
    if (NULL == daemon) {
        perror("MHD_start_daemon");
        return 1;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    int received;
    sigwait(&signals, &received);
    MHD_stop_daemon(daemon);
    return 0;
}
