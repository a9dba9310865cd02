/* dhcp-hook/tools/kea_ctrl_run.c — runs mgmtd's lease-deletion drain
 * (mgmtd/kea_ctrl.c) on its own, for the tests and for deployments that
 * run the drain beside Kea rather than inside mgmtd:
 *
 *   kea-ctrl-run CONNINFO KEA_CONTROL_SOCKET [POLL_MS]
 *
 * Runs until SIGTERM or SIGINT, then prints "done N errors N". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mgmtd/kea_ctrl.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct kea_ctrl *k;
	struct sigaction sa;
	unsigned poll_ms = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 200;
	int rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: kea-ctrl-run CONNINFO KEA_SOCKET [POLL_MS]\n");
		return 2;
	}
	log_init("kea-ctrl-run", 1, LOG_LVL_INFO);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rc = kea_ctrl_start(argv[1], argv[2], poll_ms, &k);
	if (rc) {
		fprintf(stderr, "kea-ctrl-run: cannot start: %s\n", strerror(rc));
		return 1;
	}
	while (!stop)
		pause();
	printf("done %lu errors %lu\n", kea_ctrl_done(k), kea_ctrl_errors(k));
	kea_ctrl_stop(k);
	return 0;
}
