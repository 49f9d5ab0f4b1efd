// See include/CMicroHTTPD.h for why this file exists. Thin forwards only.
#include "CMicroHTTPD.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    lmscore_mhd_log_callback callback;
    void *context;
} log_target;

static void forward_log(void *cls, const char *format, va_list ap) {
    const log_target *target = cls;
    char line[512];
    vsnprintf(line, sizeof line, format, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    target->callback(target->context, line);
}

// One process runs one daemon; its logger target and address must outlive it.
static log_target the_log_target;
static struct sockaddr_in the_address;

struct MHD_Daemon *lmscore_mhd_start(const lmscore_mhd_settings *s,
                                     MHD_AccessHandlerCallback handler, void *handler_context,
                                     MHD_RequestCompletedCallback completed, void *completed_context,
                                     lmscore_mhd_log_callback log, void *log_context) {
    memset(&the_address, 0, sizeof the_address);
    the_address.sin_family = AF_INET;
    the_address.sin_port = htons(s->port);
    if (inet_pton(AF_INET, s->host, &the_address.sin_addr) != 1) return NULL;
    the_log_target.callback = log;
    the_log_target.context = log_context;
    return MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        s->port, NULL, NULL, handler, handler_context,
        MHD_OPTION_EXTERNAL_LOGGER, forward_log, &the_log_target,  // must come first (MHD warns otherwise)
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&the_address,
        MHD_OPTION_CONNECTION_LIMIT, s->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, s->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->connection_memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, s->listen_backlog,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_NOTIFY_COMPLETED, completed, completed_context,
        MHD_OPTION_END);
}

int lmscore_mhd_epoll_fd(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

uint16_t lmscore_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

unsigned int lmscore_mhd_current_connections(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

int lmscore_mhd_timeout_ms(struct MHD_Daemon *daemon) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(daemon, &ms) != MHD_YES) return -1;
    return ms > 60000 ? 60000 : (int)ms;
}

struct MHD_Response *lmscore_mhd_response_copy(const void *data, size_t size) {
    return MHD_create_response_from_buffer(size, (void *)data, MHD_RESPMEM_MUST_COPY);
}
