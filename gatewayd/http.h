/* gatewayd/http.h — HTTP(S) requests to mgmtd through libcurl's multi
 * interface on the daemon's event loop: nothing blocks, so a mgmtd that is
 * slow, down or answers garbage never stalls SIP.
 *
 * Every request carries the gateway's Basic credentials, is bounded in
 * time (timeout_ms, connect included) and in size (max_body bytes of
 * answer, more is an error), and ends in exactly one callback. */
#ifndef DPN_GW_HTTP_H
#define DPN_GW_HTTP_H

#include <stddef.h>

struct ev_loop;
struct gw_http;

struct gw_http_cfg {
	const char *base_url;	/* "http://127.0.0.1:8080" (no trailing /) */
	const char *user, *secret;	/* Basic credentials */
	unsigned timeout_ms;	/* whole request */
	size_t max_body;	/* largest answer accepted */
};

/* One answer: err 0 and the HTTP status, the body (NUL-terminated, valid
 * during the call) and its ETag ("" when none); or err != 0 (ETIMEDOUT,
 * ECONNREFUSED, EMSGSIZE for a body over max_body, EIO otherwise) with
 * status 0. */
typedef void (*gw_http_cb)(void *arg, int err, long status, const char *body,
			   size_t len, const char *etag);

/* A client on loop; copies cfg's strings. 0, EINVAL, ENOMEM or EIO (curl
 * could not start). Free with gw_http_free (pending requests are dropped
 * without their callbacks). */
int gw_http_new(struct ev_loop *loop, const struct gw_http_cfg *cfg,
		struct gw_http **out);
void gw_http_free(struct gw_http *h);

/* Starts METHOD base_url+path with json (may be NULL: no body) and
 * If-None-Match etag (NULL: none); cb runs later from the loop, never from
 * inside this call. 0, ENOMEM or EIO. */
int gw_http_request(struct gw_http *h, const char *method, const char *path,
		    const char *json, const char *etag, gw_http_cb cb,
		    void *arg);

/* Requests in flight. */
unsigned gw_http_pending(const struct gw_http *h);

#endif
