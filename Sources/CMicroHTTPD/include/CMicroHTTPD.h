// CMicroHTTPD: the thin C layer between lmscore's Swift HTTP server and libmicrohttpd.
//
// Why it exists: MHD_start_daemon and MHD_get_*_info are variadic (Swift cannot call C varargs),
// and MHD's logger hands out a va_list. Everything here is a direct forward; the server logic —
// the event loop, routing, suspend/resume bookkeeping — is Swift (Sources/LMScoreServer/HTTP/).
#ifndef LMSCORE_CMICROHTTPD_H
#define LMSCORE_CMICROHTTPD_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>   // the server drives MHD from its own epoll loop
#include <sys/eventfd.h> // ... and wakes it with an eventfd

/// Limits and timeouts, all set explicitly (MHD's defaults are traps: no timeout, 1020 connections).
typedef struct lmscore_mhd_settings {
    const char *host;                  // IPv4 address to bind, e.g. "127.0.0.1" or "0.0.0.0"
    uint16_t port;                     // 0: let the kernel choose (read it back with lmscore_mhd_bound_port)
    unsigned int connection_limit;
    unsigned int connection_timeout;   // seconds of inactivity before MHD closes a connection
    size_t connection_memory_limit;    // per-connection buffer (headers must fit)
    unsigned int listen_backlog;
} lmscore_mhd_settings;

/// Called with each formatted MHD error-log line.
typedef void (*lmscore_mhd_log_callback)(void *context, const char *message);

/// Where a daemon's log lines go. The caller owns it and keeps it alive until the daemon is stopped.
typedef struct lmscore_mhd_logger {
    lmscore_mhd_log_callback callback;
    void *context;
} lmscore_mhd_logger;

/// Starts a daemon driven by the caller's own epoll loop (MHD_USE_EPOLL without an internal thread,
/// with MHD_ALLOW_SUSPEND_RESUME). `accept` (MHD's accept policy) may refuse a new connection, which MHD
/// then closes at once; `notify` hears of every connection MHD opens and closes. All callbacks get
/// `context`. Returns NULL on failure (errno may say why).
struct MHD_Daemon *lmscore_mhd_start(const lmscore_mhd_settings *settings,
                                     MHD_AccessHandlerCallback handler,
                                     MHD_RequestCompletedCallback completed,
                                     MHD_AcceptPolicyCallback accept,
                                     MHD_NotifyConnectionCallback notify,
                                     void *context,
                                     const lmscore_mhd_logger *logger);

/// The socket of a connection (MHD_get_connection_info is variadic), or -1.
int lmscore_mhd_connection_fd(struct MHD_Connection *connection);

/// The epoll file descriptor the caller must wait on, or -1.
int lmscore_mhd_epoll_fd(struct MHD_Daemon *daemon);

/// The port the daemon listens on, or 0.
uint16_t lmscore_mhd_bound_port(struct MHD_Daemon *daemon);


/// How long the caller may wait before MHD needs MHD_run again: milliseconds, or -1 for "no timer".
int lmscore_mhd_timeout_ms(struct MHD_Daemon *daemon);

/// A response holding a private copy of `size` bytes at `data` (MHD_RESPMEM_MUST_COPY).
struct MHD_Response *lmscore_mhd_response_copy(const void *data, size_t size);

#endif
