/* mgmtd/http.c — libmicrohttpd glue: request state, body accumulation under
 * a size cap, answers queued with security headers (the api_* answer
 * functions themselves are in answer.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "server.h"

static const char CSP[] = "default-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'; object-src 'none'";

static void add_security_headers(struct MHD_Response *resp, int is_static)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "Cache-Control",
	    is_static ? "no-cache" : "no-store");
}

/* s with anything but printable ASCII as '?', cut to size: safe to log. */
static const char *printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* Builds and queues the answer; MHD keeps its own reference. */
static enum MHD_Result queue_answer(struct api_http *h)
{
	struct MHD_Response *resp;
	char path[128];
	enum MHD_Result ret;
	int is_file;

	static struct log_rl rl = LOG_RL_INIT(20, 60);

	if (h->status == 0) {
		log_warnx("%s %s: handler gave no answer", h->req.method, h->req.path);
		api_error(&h->req, 500, NULL, "internal error");
	}
	/* Refused input is logged (rate-limited) as well as counted. */
	if (h->status >= 400 && h->status != 404)
		log_warnx_rl(&rl, "%s: %s %s -> %u %.*s", h->client, h->req.method,
		    printable(h->req.path, path, sizeof(path)), h->status, h->resp ? (int)(h->resp_len < 160 ?
		    h->resp_len : 160) : 0, h->resp ? h->resp : "");
	is_file = h->resp_fd >= 0;
	if (is_file) {
		resp = MHD_create_response_from_fd64(h->resp_fd_size, h->resp_fd);
		if (resp)
			h->resp_fd = -1;      /* MHD owns it now */
	} else {
		resp = MHD_create_response_from_buffer(h->resp_len, h->resp,
		    MHD_RESPMEM_MUST_FREE);
		if (resp)
			h->resp = NULL;
	}
	if (!resp)
		return MHD_NO;
	if (h->resp_type)
		MHD_add_response_header(resp, "Content-Type", h->resp_type);
	add_security_headers(resp, is_file);
	for (int i = 0; i < h->nhdr; i++)
		MHD_add_response_header(resp, h->hdr_name[i], h->hdr_value[i]);
	ret = MHD_queue_response(h->conn, h->status, resp);
	MHD_destroy_response(resp);
	h->done = 1;
	return ret;
}

static void client_addr(struct api_http *h)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(h->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(h->client, sizeof(h->client), "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    h->client, sizeof(h->client));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    h->client, sizeof(h->client));
}

static struct api_http *req_new(struct MHD_Connection *conn, const char *url,
    const char *method)
{
	struct api_http *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->conn = conn;
	h->resp_fd = -1;
	h->route_idx = -1;
	h->t0_ns = http_now_ns();
	h->req.http = h;
	h->req.method = method;
	h->req.path = url;
	h->req.body = "";
	client_addr(h);
	return h;
}

static void req_free(struct api_http *h)
{
	http_req_cleanup(h);
	free(h->buf);
	free(h->path);
	free(h);
}

/* A request body must say it is JSON. */
static int is_json(struct api_http *h)
{
	const char *ct = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen("application/json");

	return ct && strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int is_api_path(const char *url)
{
	return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0;
}

static void no_route(struct api_http *h)
{
	const char *m = h->req.method;

	if (h->route_idx == -2) {
		api_header(&h->req, "Allow", h->allow);
		api_error(&h->req, 405, NULL, "method %s not allowed here", m);
		return;
	}
	h->route_idx = -1;
	if (is_api_path(h->req.path)) {
		api_error(&h->req, 404, NULL, "no such resource");
		return;
	}
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		api_header(&h->req, "Allow", "GET, HEAD");
		api_error(&h->req, 405, NULL, "method %s not allowed here", m);
		return;
	}
	static_serve(h, h->req.path);
}

/* Runs the matched route's handler after authentication and the content
 * type check, or answers for a path without a route. */
static void dispatch(struct api_http *h)
{
	if (!h->route) {
		no_route(h);
		return;
	}
	if (auth_check(h))
		return;
	if (h->req.body_len > 0 && !is_json(h)) {
		api_error(&h->req, 415, NULL, "request body must be application/json");
		return;
	}
	h->route->fn(&h->req);
}

/* The declared length is over the cap: answer 413 before reading it. */
static int declared_too_big(struct api_http *h)
{
	const char *cl = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!cl)
		return 0;
	errno = 0;
	n = strtoull(cl, &end, 10);
	return errno != 0 || *end != '\0' || n > h->limit;
}

static void answer_too_big(struct api_http *h)
{
	api_error(&h->req, 413, NULL, "request body too large (limit %zu bytes)",
	    h->limit);
}

/* Appends an upload chunk, or only counts it once over the cap. */
static int body_append(struct api_http *h, const char *data, size_t n)
{
	size_t cap;
	char *b;

	if (h->too_big || h->len + n > h->limit) {
		h->too_big = 1;
		return 0;
	}
	if (h->len + n + 1 > h->cap) {
		cap = h->cap ? h->cap : 1024;
		while (cap < h->len + n + 1)
			cap *= 2;
		if (!(b = realloc(h->buf, cap)))
			return ENOMEM;
		h->buf = b;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, data, n);
	h->len += n;
	h->buf[h->len] = '\0';
	return 0;
}

/* What first_call adds up over the request's headers. */
struct header_sum {
	size_t bytes;
	int content_lengths, chunked;
};

static enum MHD_Result header_add(void *cls, enum MHD_ValueKind kind,
    const char *key, const char *value)
{
	struct header_sum *sum = cls;

	(void)kind;
	sum->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		sum->content_lengths++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		sum->chunked = 1;
	return MHD_YES;
}

static enum MHD_Result query_add(void *cls, enum MHD_ValueKind kind,
    const char *key, const char *value)
{
	size_t *bytes = cls;

	(void)kind;
	*bytes += strlen(key) + (value ? strlen(value) : 0) + 2;
	return MHD_YES;
}

/* Refuses what the request line and headers show before any body: %00 in
 * the URL (it would cut the path short), an over-long URL or header block
 * (JSON here; libmicrohttpd answers itself only far beyond these), and
 * ambiguous framing. 0, or answered. */
static int refuse_head(struct api_http *h, const char *url)
{
	struct header_sum sum = { 0 };
	size_t url_bytes = strlen(url);

	MHD_get_connection_values(h->conn, MHD_HEADER_KIND | MHD_COOKIE_KIND,
	    header_add, &sum);
	MHD_get_connection_values(h->conn, MHD_GET_ARGUMENT_KIND, query_add,
	    &url_bytes);
	if (guard_take_nul(h->conn))
		api_error(&h->req, 400, NULL, "the URL holds %%00");
	else if (url_bytes > HTTP_URL_MAX)
		api_error(&h->req, 414, NULL, "URL too long (limit %d bytes)",
		    HTTP_URL_MAX);
	else if (sum.bytes > HTTP_HEADERS_MAX)
		api_error(&h->req, 431, NULL, "request headers too large (limit %d "
		    "bytes)", HTTP_HEADERS_MAX);
	else if (sum.content_lengths > 1 || (sum.content_lengths && sum.chunked))
		api_error(&h->req, 400, NULL, "ambiguous body length: one "
		    "Content-Length, or chunked without it");
	else if (declared_too_big(h))
		answer_too_big(h);
	else
		return 0;
	return EINVAL;
}

static enum MHD_Result first_call(struct api_http *h, const char *method,
    const char *url)
{
	router_match(h, method, url);
	h->limit = h->route && (h->route->flags & API_BULK) ? BODY_MAX_BULK : BODY_MAX;
	if (refuse_head(h, url))
		return queue_answer(h);
	return MHD_YES;
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **con_cls)
{
	struct api_http *h = *con_cls;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!h) {
		if (!(h = req_new(conn, url, method)))
			return MHD_NO;
		*con_cls = h;
		return first_call(h, method, url);
	}
	if (h->done) {               /* answered early: drop the rest */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (body_append(h, upload, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	guard_busy(conn, 1);
	if (h->too_big) {
		answer_too_big(h);
	} else {
		if (h->buf) {
			h->req.body = h->buf;
			h->req.body_len = h->len;
		}
		dispatch(h);
	}
	if (h->route && (h->route->flags & API_GATEWAY) && h->status < 400)
		guard_mark_broker(conn);
	ret = queue_answer(h);
	guard_busy(conn, 0);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct api_http *h = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	uint64_t ns;
	char path[128];

	if (!h)
		return;
	ns = http_now_ns() - h->t0_ns;
	metrics_observe(h->route_idx, h->status, ns);
	if (log_debug_enabled())
		log_debug("%s: %s %s -> %u in %.2f ms", h->client, h->req.method,
		    printable(h->req.path, path, sizeof(path)), h->status, ns / 1e6);
	req_free(h);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static struct log_rl rl = LOG_RL_INIT(10, 60);
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warnx_rl(&rl, "http: %s", msg);
}

/* MHD's own unescaping, noting a %00 first: decoded, it would end the
 * path early ("/sites/1%00" read as "/sites/1"); refuse_head refuses it. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	if (strstr(s, "%00"))
		guard_mark_nul(conn);
	return MHD_http_unescape(s);
}

int http_start(const struct mgmtd_config *cfg, int listen_fd,
    const char *tls_key, const char *tls_cert, struct MHD_Daemon **out)
{
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL },
		{ MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conns_per_ip, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)guard_notify, NULL },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL },
		{ MHD_OPTION_END, 0, NULL },      /* TLS key, when given */
		{ MHD_OPTION_END, 0, NULL },      /* TLS certificate */
		{ MHD_OPTION_END, 0, NULL },
	};
	size_t n = sizeof(opts) / sizeof(opts[0]) - 3;

	if (tls_key) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
		    (void *)tls_key };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
		    (void *)tls_cert };
	}
	d = MHD_start_daemon(flags, 0, NULL, NULL, ahc, NULL,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!d)
		return EIO;
	*out = d;
	return 0;
}
