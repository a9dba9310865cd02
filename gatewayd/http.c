/* gatewayd/http.c — libcurl's multi interface driven by lib/event: curl
 * says which sockets to watch (sock_cb) and when to call it back
 * (timer_cb); the loop calls curl_multi_socket_action and finished
 * transfers end in their request's callback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "event/event.h"
#include "gatewayd/http.h"

#define ETAG_MAX 96

struct gw_req {
	struct gw_http *h;
	CURL *easy;
	struct curl_slist *hdrs;
	char *json;		/* request body (owned) */
	char *buf;		/* answer body */
	size_t len, cap;
	int too_big;
	char etag[ETAG_MAX];
	gw_http_cb cb;
	void *arg;
	struct gw_req *next, *prev;
};

struct gw_http {
	struct ev_loop *loop;
	CURLM *multi;
	struct ev_timer timer;
	char *base, *user, *secret;
	unsigned timeout_ms;
	size_t max_body;
	struct gw_req *reqs;
	unsigned pending;
};

static void req_free(struct gw_req *q)
{
	struct gw_http *h = q->h;

	if (q->prev)
		q->prev->next = q->next;
	else
		h->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	h->pending--;
	curl_multi_remove_handle(h->multi, q->easy);
	curl_easy_cleanup(q->easy);
	curl_slist_free_all(q->hdrs);
	free(q->json);
	free(q->buf);
	free(q);
}

static int curl_errno(CURLcode c, int too_big)
{
	if (too_big)
		return EMSGSIZE;
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	default:
		return EIO;
	}
}

/* Ends every finished transfer with its callback. */
static void reap(struct gw_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct gw_req *q;
		long status = 0;
		int err;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		err = m->data.result == CURLE_OK ? 0 :
		    curl_errno(m->data.result, q->too_big);
		if (!err)
			curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
		q->cb(q->arg, err, status, err ? "" : (q->buf ? q->buf : ""),
		    err ? 0 : q->len, q->etag);
		req_free(q);
	}
}

static void io_cb(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	struct gw_http *h = arg;
	int flags = 0, running;

	(void)loop;
	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	reap(h);
}

static void timer_fired(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct gw_http *h = arg;
	int running;

	(void)loop;
	(void)t;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(h);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sp)
{
	struct gw_http *h = arg;
	unsigned ev = 0;

	(void)e;
	(void)sp;
	if (what == CURL_POLL_REMOVE) {
		ev_io_del(h->loop, fd);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EV_WRITE;
	if (ev_io_mod(h->loop, fd, ev) == ENOENT)
		ev_io_add(h->loop, fd, ev, io_cb, h);
	return 0;
}

static int timer_cb(CURLM *multi, long ms, void *arg)
{
	struct gw_http *h = arg;

	(void)multi;
	if (ms < 0)
		ev_timer_stop(h->loop, &h->timer);
	else
		ev_timer_start(h->loop, &h->timer, (uint64_t)ms);
	return 0;
}

static size_t body_cb(char *p, size_t size, size_t n, void *arg)
{
	struct gw_req *q = arg;
	size_t len = size * n;

	if (q->len + len > q->h->max_body) {
		q->too_big = 1;
		return 0;	/* aborts the transfer */
	}
	if (q->len + len + 1 > q->cap) {
		size_t cap = (q->len + len + 1) * 2;
		char *b = realloc(q->buf, cap);

		if (!b)
			return 0;
		q->buf = b;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, p, len);
	q->len += len;
	q->buf[q->len] = '\0';
	return len;
}

/* Keeps the ETag of the answer (a 304 repeats it). */
static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct gw_req *q = arg;
	size_t len = size * n, v;

	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		for (v = 5; v < len && (p[v] == ' ' || p[v] == '\t'); v++)
			;
		while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
		    p[len - 1] == ' '))
			len--;
		if (len - v < ETAG_MAX) {
			memcpy(q->etag, p + v, len - v);
			q->etag[len - v] = '\0';
		}
	}
	return size * n;
}

int gw_http_new(struct ev_loop *loop, const struct gw_http_cfg *cfg,
		struct gw_http **out)
{
	struct gw_http *h;

	if (!cfg->base_url || !cfg->user || !cfg->secret)
		return EINVAL;
	if (!(h = calloc(1, sizeof(*h))))
		return ENOMEM;
	h->loop = loop;
	h->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
	h->max_body = cfg->max_body ? cfg->max_body : 1 << 20;
	h->base = strdup(cfg->base_url);
	h->user = strdup(cfg->user);
	h->secret = strdup(cfg->secret);
	ev_timer_init(&h->timer, timer_fired, h);
	if (!h->base || !h->user || !h->secret) {
		gw_http_free(h);
		return ENOMEM;
	}
	if (!(h->multi = curl_multi_init())) {
		gw_http_free(h);
		return EIO;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
}

void gw_http_free(struct gw_http *h)
{
	if (!h)
		return;
	while (h->reqs)
		req_free(h->reqs);
	ev_timer_stop(h->loop, &h->timer);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->secret)
		explicit_bzero(h->secret, strlen(h->secret));
	free(h->base);
	free(h->user);
	free(h->secret);
	free(h);
}

/* The options of one easy handle. 0 or EIO. */
static int req_setup(struct gw_req *q, const char *method, const char *url)
{
	struct gw_http *h = q->h;
	CURL *e = q->easy;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	bad |= curl_easy_setopt(e, CURLOPT_USERNAME, h->user);
	bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, h->secret);
	bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->hdrs);
	if (q->json) {
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->json);
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(q->json));
	}
	return bad ? EIO : 0;
}

/* Request headers; NULL on out of memory. */
static struct curl_slist *req_headers(const char *json, const char *etag)
{
	struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json"), *n;
	char line[ETAG_MAX + 20];

	if (l && json) {
		if (!(n = curl_slist_append(l, "Content-Type: application/json")))
			goto fail;
		l = n;
	}
	if (l && etag && *etag && strlen(etag) < ETAG_MAX) {
		snprintf(line, sizeof(line), "If-None-Match: %s", etag);
		if (!(n = curl_slist_append(l, line)))
			goto fail;
		l = n;
	}
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

int gw_http_request(struct gw_http *h, const char *method, const char *path,
		    const char *json, const char *etag, gw_http_cb cb,
		    void *arg)
{
	struct gw_req *q = calloc(1, sizeof(*q));
	size_t ulen = strlen(h->base) + strlen(path) + 1;
	char *url = malloc(ulen);
	int rc = ENOMEM;

	if (!q || !url)
		goto fail;
	snprintf(url, ulen, "%s%s", h->base, path);
	q->h = h;
	q->cb = cb;
	q->arg = arg;
	if (!(q->easy = curl_easy_init()) || !(q->hdrs = req_headers(json, etag)) ||
	    (json && !(q->json = strdup(json))))
		goto fail;
	rc = EIO;
	if (req_setup(q, method, url) || curl_multi_add_handle(h->multi, q->easy))
		goto fail;
	free(url);
	q->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = q;
	h->reqs = q;
	h->pending++;
	return 0;
fail:
	if (q) {
		curl_easy_cleanup(q->easy);
		curl_slist_free_all(q->hdrs);
		free(q->json);
	}
	free(q);
	free(url);
	return rc;
}

unsigned gw_http_pending(const struct gw_http *h)
{
	return h->pending;
}
