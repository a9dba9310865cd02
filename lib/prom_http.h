/* lib/prom_http.h — the small HTTP endpoint a daemon switches on with one
 * setting (metrics-listen): GET /metrics (the registry's text) and GET
 * /healthz (200 or 503 with the reason, JSON). libmicrohttpd, one internal
 * thread, few connections, short timeouts: it is for a scraper on loopback
 * or a management network, not for the public. */
#ifndef DPN_PROM_HTTP_H
#define DPN_PROM_HTTP_H

#include <stddef.h>

struct prom;
struct prom_http;

/* Says whether the daemon is healthy: 1, or 0 with a short reason in why
 * (plain text, no quotes). Called on the endpoint's thread. */
typedef int (*prom_health_fn)(void *arg, char *why, size_t len);

/* Serves reg on listen_fd (a bound, listening TCP socket the endpoint takes
 * over; bind before dropping privileges). health may be NULL (always
 * healthy). 0, or EIO when libmicrohttpd would not start (listen_fd is
 * then closed), ENOMEM. */
int prom_http_start(struct prom *reg, int listen_fd, prom_health_fn health,
		    void *arg, struct prom_http **out);
/* Stops the endpoint and closes its socket. NULL is a no-op. */
void prom_http_stop(struct prom_http *h);

#endif
