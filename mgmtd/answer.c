/* mgmtd/answer.c — the answers of api.h (JSON, errors, no content, extra
 * headers), the request's kept strings, query parameters and paging, and
 * the cleanup of what a request owns. No server here: json.c and these
 * link on their own into the unit tests. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

uint64_t http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *http_keep(struct api_http *h, char *s)
{
	char **v;

	if (!s)
		return NULL;
	v = realloc(h->strs, (h->nstrs + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return NULL;
	}
	h->strs = v;
	h->strs[h->nstrs++] = s;
	return s;
}

static void answer_clear(struct api_http *h)
{
	free(h->resp);
	h->resp = NULL;
	h->resp_len = 0;
	if (h->resp_fd >= 0)
		close(h->resp_fd);
	h->resp_fd = -1;
	h->status = 0;
}

void http_answer(struct api_http *h, unsigned status, const char *type,
    char *body, size_t len)
{
	answer_clear(h);
	h->status = status;
	h->resp_type = type;
	h->resp = body;
	h->resp_len = len;
}

void http_answer_fd(struct api_http *h, int fd, uint64_t size, const char *type)
{
	answer_clear(h);
	h->status = 200;
	h->resp_type = type;
	h->resp_fd = fd;
	h->resp_fd_size = size;
}


/* Out of memory while answering: a fixed 500 (body NULL -> static text). */
static void answer_oom(struct api_http *h)
{
	static const char oom[] = "{\"error\":\"out of memory\"}";
	char *b = strdup(oom);

	http_answer(h, b ? 500 : 503, "application/json", b, b ? sizeof(oom) - 1 : 0);
}

void api_json_text(struct api_req *r, unsigned status, const char *text)
{
	char *b = strdup(text);

	if (!b) {
		answer_oom(r->http);
		return;
	}
	http_answer(r->http, status, "application/json", b, strlen(b));
}

void api_json(struct api_req *r, unsigned status, json_object *obj)
{
	const char *s;

	if (!obj) {
		answer_oom(r->http);
		return;
	}
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		api_json_text(r, status, s);
	else
		answer_oom(r->http);
	json_object_put(obj);
}

void api_error(struct api_req *r, unsigned status, const char *field,
    const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o) {
		json_object_object_add(o, "error", json_object_new_string(msg));
		if (field)
			json_object_object_add(o, "field", json_object_new_string(field));
	}
	api_json(r, status, o);
}

void api_no_content(struct api_req *r)
{
	http_answer(r->http, 204, NULL, NULL, 0);
}

int api_answered(const struct api_req *r)
{
	return r->http->status != 0;
}

int api_header(struct api_req *r, const char *name, const char *value)
{
	struct api_http *h = r->http;
	char *n, *v;

	if (h->nhdr == MAX_HEADERS)
		return ENOSPC;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return ENOMEM;
	}
	h->hdr_name[h->nhdr] = n;
	h->hdr_value[h->nhdr++] = v;
	return 0;
}

const char *api_query(struct api_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->http->conn, MHD_GET_ARGUMENT_KIND, key);
}


/* One paging parameter: absent -> def; else 1..max digits only. */
static int paging_param(struct api_req *r, const char *key, int64_t def,
    int64_t max, int64_t *out)
{
	const char *s = api_query(r, key);
	char *end;
	long long v;

	if (!s) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > max) {
		api_error(r, 422, key, "%s must be a whole number from 1 to %lld", key,
		    (long long)max);
		return EINVAL;
	}
	*out = v;
	return 0;
}

int api_paging(struct api_req *r, char limit[24], char offset[24],
    int64_t *page, int64_t *per_page)
{
	if (paging_param(r, "page", 1, 1000000, page) ||
	    paging_param(r, "per_page", 50, 500, per_page))
		return EINVAL;
	snprintf(limit, 24, "%lld", (long long)*per_page);
	snprintf(offset, 24, "%lld", (long long)((*page - 1) * *per_page));
	return 0;
}

void http_req_cleanup(struct api_http *h)
{
	answer_clear(h);
	for (int i = 0; i < h->nhdr; i++) {
		free(h->hdr_name[i]);
		free(h->hdr_value[i]);
	}
	h->nhdr = 0;
	for (size_t i = 0; i < h->nstrs; i++)
		free(h->strs[i]);
	free(h->strs);
	h->strs = NULL;
	h->nstrs = 0;
	if (h->json)
		json_object_put(h->json);
	h->json = NULL;
}
