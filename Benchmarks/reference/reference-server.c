/*
 * The reference for the GET benchmark: a bare libmicrohttpd server answering every request
 * with a fixed 5-byte body and a Content-Type, in the daemon mode Keygate uses (epoll, a
 * thread pool of one thread per core, suspend/resume allowed). Like Keygate it answers on the
 * second call of the access handler, which keeps HTTP/1.1 connections alive on 0.9.75.
 *
 * With CERT and KEY (PEM files) it speaks HTTPS only, through libmicrohttpd's GnuTLS, with the
 * priorities Keygate uses (TLS 1.3 and 1.2): the reference of the TLS phase.
 *
 * Usage: reference-server PORT THREADS [CERT KEY]
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keygate's GnuTLS priorities (Sources/MicroHTTPD/TLS/TLSConfiguration.swift). */
static const char priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

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

/* The whole file at `path`, NUL-terminated, or NULL (with a message) when it cannot be read. */
static char *
read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (NULL == file) {
        perror(path);
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    char chunk[4096];
    size_t count;
    while ((count = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        char *grown = realloc(text, size + count + 1);
        if (NULL == grown) {
            free(text);
            fclose(file);
            return NULL;
        }
        text = grown;
        memcpy(text + size, chunk, count);
        size += count;
    }
    fclose(file);
    if (NULL != text)
        text[size] = '\0';
    return text;
}

int
main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s PORT THREADS [CERT KEY]\n", argv[0]);
        return 2;
    }
    unsigned int threads = (unsigned int) atoi(argv[2]);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
        | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, NULL},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, NULL},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    if (argc == 5) {
        tls[0].ptr_value = read_file(argv[3]);
        tls[1].ptr_value = read_file(argv[4]);
        if (NULL == tls[0].ptr_value || NULL == tls[1].ptr_value)
            return 1;
        flags |= MHD_USE_TLS;
    }
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, (uint16_t) atoi(argv[1]), NULL, NULL, &answer, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 10000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 16 * 1024,
        MHD_OPTION_ARRAY, argc == 5 ? tls : &tls[3],
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
