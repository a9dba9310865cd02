/* lib/prom_http.c — /metrics and /healthz over libmicrohttpd (see
 * prom_http.h). */
#include "prom_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "prom.h"

#define PH_MAX_CONNS 16
#define PH_TIMEOUT_S 10

struct prom_http {
	struct prom *reg;
	prom_health_fn health;
	void *arg;
	struct MHD_Daemon *d;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
			      const char *type, char *body, size_t len,
			      enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result rc;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result healthz(struct prom_http *h, struct MHD_Connection *c)
{
	char why[128] = "unhealthy", body[256];
	int ok = !h->health || h->health(h->arg, why, sizeof(why));
	int n;

	if (ok)
		n = snprintf(body, sizeof(body), "{\"status\":\"ok\"}\n");
	else
		n = snprintf(body, sizeof(body), "{\"status\":\"degraded\","
			     "\"error\":\"%s\"}\n", why);
	return answer(c, ok ? 200 : 503, "application/json", body, (size_t)n,
		      MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload,
			       size_t *upload_len, void **state)
{
	struct prom_http *h = cls;
	char *text;
	size_t len;

	(void)version;
	(void)upload;
	(void)state;
	if (*upload_len)
		return MHD_NO;	/* no bodies here */
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return answer(c, 405, "text/plain", "GET only\n", 9,
			      MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/healthz"))
		return healthz(h, c);
	if (strcmp(url, "/metrics"))
		return answer(c, 404, "text/plain", "not found\n", 10,
			      MHD_RESPMEM_PERSISTENT);
	if (prom_render(h->reg, &text, &len))
		return answer(c, 503, "text/plain", "out of memory\n", 14,
			      MHD_RESPMEM_PERSISTENT);
	return answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", text,
		      len, MHD_RESPMEM_MUST_FREE);
}

int prom_http_start(struct prom *reg, int listen_fd, prom_health_fn health,
		    void *arg, struct prom_http **out)
{
	struct prom_http *h = calloc(1, sizeof(*h));

	if (!h) {
		close(listen_fd);
		return ENOMEM;
	}
	h->reg = reg;
	h->health = health;
	h->arg = arg;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
	    0, NULL, NULL, handler, h,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)PH_MAX_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PH_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
	    MHD_OPTION_END);
	if (!h->d) {
		close(listen_fd);
		free(h);
		return EIO;
	}
	*out = h;
	return 0;
}

void prom_http_stop(struct prom_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
