/* bench/daemon_min.c — the smallest daemon on the skeleton (lib/daemon.h):
 * one UDP socket, the settings table, signals in the loop and, when
 * metrics-listen is set, the /metrics endpoint. bench/daemon_mem.sh
 * measures what the skeleton costs a daemon in memory before it does any
 * work of its own (gatewayd's budget is under 1 MiB private). */
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

struct min_conf {
	struct daemon_conf base;
	struct conf_addr listen;
};

static const struct conf_item table[] = {
	{ .name = "listen", .type = CONF_ADDR,
	  .off = offsetof(struct min_conf, listen), .def = "127.0.0.1:0",
	  .help = "a UDP socket to hold" },
	DAEMON_CONF_ROWS(struct min_conf, base, "nobody"),
	{ .name = NULL },
};

static const struct daemon_def def = {
	.name = "daemon-min", .usage = "usage: daemon-min [-f FILE] [OPTIONS]",
	.conf = table, .conf_size = sizeof(struct min_conf),
	.base_off = offsetof(struct min_conf, base),
};

int main(int argc, char **argv)
{
	struct daemon *d;
	int rc, fd = -1;

	if ((rc = daemon_init(&def, argc - 1, argv + 1, &d)) >= 0)
		return rc;
	rc = 1;
	if (daemon_bind(&((struct min_conf *)d->cfg)->listen, SOCK_DGRAM, &fd) ||
	    daemon_bound(d))
		goto out;
	rc = daemon_run(d) ? 1 : 0;
out:
	if (fd >= 0)
		close(fd);
	daemon_free(d);
	return rc;
}
