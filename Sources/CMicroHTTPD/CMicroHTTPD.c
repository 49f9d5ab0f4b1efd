// See include/CMicroHTTPD.h for why this file exists. Thin forwards only.
#include "CMicroHTTPD.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void forward_log(void *cls, const char *format, va_list ap) {
    const lmscore_mhd_logger *target = cls;
    char line[512];
    vsnprintf(line, sizeof line, format, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    target->callback(target->context, line);
}

struct MHD_Daemon *lmscore_mhd_start(const lmscore_mhd_settings *s,
                                     MHD_AccessHandlerCallback handler,
                                     MHD_RequestCompletedCallback completed,
                                     MHD_AcceptPolicyCallback accept,
                                     MHD_NotifyConnectionCallback notify,
                                     void *context,
                                     const lmscore_mhd_logger *logger) {
    struct sockaddr_in address;  // MHD binds during the call; it need not outlive it
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons(s->port);
    if (inet_pton(AF_INET, s->host, &address.sin_addr) != 1) return NULL;
    return MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        s->port, accept, context, handler, context,
        MHD_OPTION_EXTERNAL_LOGGER, forward_log, (void *)logger,  // must come first (MHD warns otherwise)
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
        MHD_OPTION_CONNECTION_LIMIT, s->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, s->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->connection_memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, s->listen_backlog,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
        // No MHD_OPTION_LISTENING_ADDRESS_REUSE: MHD's default (SO_REUSEADDR) lets a server restart at
        // once on its port, and a second server on a port in use fails to start instead of sharing it
        // (SO_REUSEPORT) and taking part of the connections.
        MHD_OPTION_NOTIFY_COMPLETED, completed, context,
        MHD_OPTION_NOTIFY_CONNECTION, notify, context,
        MHD_OPTION_END);
}

int lmscore_mhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

int lmscore_mhd_epoll_fd(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

uint16_t lmscore_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

int lmscore_mhd_timeout_ms(struct MHD_Daemon *daemon) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(daemon, &ms) != MHD_YES) return -1;
    return ms > 60000 ? 60000 : (int)ms;
}

struct MHD_Response *lmscore_mhd_response_copy(const void *data, size_t size) {
    return MHD_create_response_from_buffer(size, (void *)data, MHD_RESPMEM_MUST_COPY);
}
