// Fixed-argument wrappers for the variadic parts of libmicrohttpd, which Swift cannot call, and
// the GnuTLS declarations its TLS needs (certificates and keys are loaded from Swift). Every
// function here is a thin `static inline` forwarder; no logic lives in C beyond choosing
// whether the TLS options are passed.
#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

/// `MHD_SIZE_UNKNOWN` is a macro of a cast expression, which Swift does not import.
static const uint64_t cmhd_size_unknown = MHD_SIZE_UNKNOWN;

/// What a daemon speaking TLS is started with (`MHD_USE_TLS` must be among the flags).
struct cmhd_tls_settings {
    /// GnuTLS priorities: the protocol versions and ciphers offered.
    const char *priorities;
    /// Gives each handshake the certificate chain and key to present.
    gnutls_certificate_retrieve_function2 *certificate;
};

/// `POLLRDHUP` (the peer shut its side of the connection), which <poll.h> declares only under
/// `_GNU_SOURCE`, as Swift's Glibc module is not built; Linux's value.
static const short cmhd_poll_read_hang_up = 0x2000;

/// Everything `cmhd_start_daemon` passes to `MHD_start_daemon` besides the callbacks.
struct cmhd_daemon_settings {
    unsigned int flags;
    unsigned int thread_pool_size;
    unsigned int connection_limit;
    unsigned int per_ip_connection_limit;
    unsigned int connection_timeout_seconds;
    size_t connection_memory_limit;
    /// TLS, or NULL for plain HTTP.
    const struct cmhd_tls_settings *tls;
};

/// The callbacks `cmhd_start_daemon` registers; each receives `context` as its first argument.
struct cmhd_daemon_callbacks {
    MHD_AcceptPolicyCallback accept;
    MHD_AccessHandlerCallback access;
    MHD_RequestCompletedCallback completed;
    size_t (*unescape)(void *context, struct MHD_Connection *connection, char *text);
    MHD_LogCallback log;
    MHD_NotifyConnectionCallback connection;
    void *(*request_line)(void *context, const char *uri, struct MHD_Connection *connection);
    void *context;
};

/// Starts a daemon: `MHD_start_daemon` with the options above, in a fixed order.
static inline struct MHD_Daemon *
cmhd_start_daemon(const struct cmhd_daemon_settings *settings,
                  const struct cmhd_daemon_callbacks *callbacks)
{
    // A function pointer travels in `ptr_value` as `void *`, as MHD_OPTION_ARRAY documents.
    struct MHD_OptionItem tls_options[] = {
        {MHD_OPTION_HTTPS_PRIORITIES, 0,
         NULL == settings->tls ? NULL : (void *) settings->tls->priorities},
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
         NULL == settings->tls ? NULL : (void *) settings->tls->certificate},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(
        settings->flags, 0, callbacks->accept, callbacks->context, callbacks->access,
        callbacks->context,
        MHD_OPTION_EXTERNAL_LOGGER, callbacks->log, callbacks->context,
        MHD_OPTION_THREAD_POOL_SIZE, settings->thread_pool_size,
        MHD_OPTION_CONNECTION_LIMIT, settings->connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, settings->per_ip_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, settings->connection_timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, settings->connection_memory_limit,
        MHD_OPTION_NOTIFY_COMPLETED, callbacks->completed, callbacks->context,
        MHD_OPTION_UNESCAPE_CALLBACK, callbacks->unescape, callbacks->context,
        MHD_OPTION_NOTIFY_CONNECTION, callbacks->connection, callbacks->context,
        MHD_OPTION_URI_LOG_CALLBACK, callbacks->request_line, callbacks->context,
        // The TLS options go through an array, so that a plain daemon is given none: its list
        // starts at the end marker.
        MHD_OPTION_ARRAY, NULL == settings->tls ? &tls_options[2] : tls_options,
        MHD_OPTION_END);
}

/// The number of open connections, suspended ones included.
static inline unsigned int
cmhd_daemon_connection_count(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return NULL == info ? 0 : info->num_connections;
}

/// The socket of a connection, or -1 when it cannot tell.
static inline int
cmhd_connection_socket(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return NULL == info ? -1 : info->connect_fd;
}

/// The peer address of a connection, or NULL when it cannot tell.
static inline const struct sockaddr *
cmhd_connection_client_address(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return NULL == info ? NULL : info->client_addr;
}

/// What the connection-started notice stored for a connection, or NULL.
static inline void *
cmhd_connection_socket_context(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return NULL == info ? NULL : info->socket_context;
}

/// The size of the request's line and header fields in bytes, or 0 when it cannot tell.
static inline size_t
cmhd_connection_header_size(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    return NULL == info ? 0 : info->header_size;
}

/// The libmicrohttpd connection a TLS session belongs to (libmicrohttpd stores it as the
/// session's pointer).
static inline struct MHD_Connection *
cmhd_tls_session_connection(gnutls_session_t session)
{
    return (struct MHD_Connection *) gnutls_session_get_ptr(session);
}

/// Whether a connection speaks TLS: only then has it a GnuTLS session.
static inline bool
cmhd_connection_is_encrypted(struct MHD_Connection *connection)
{
    return NULL != MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
}

/// Hands an upgraded socket back to libmicrohttpd, which closes it
/// (`MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE)`).
static inline enum MHD_Result
cmhd_upgrade_close(struct MHD_UpgradeResponseHandle *urh)
{
    return MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

#endif
