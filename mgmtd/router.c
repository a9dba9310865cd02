/* mgmtd/router.c — method + path pattern -> route (http.c dispatches).
 * The route tables of the resource files (mgmtd/routes.c) are flattened
 * once at start; a request is matched segment by segment, `{id}` taking a
 * positive decimal id and `{*}` any one segment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define MAX_SEGS 12

static const struct api_route **routes;
static size_t nroutes;

int router_init(void)
{
	size_t n = 0, k = 0;

	for (size_t t = 0; api_route_tables[t]; t++)
		for (const struct api_route *r = api_route_tables[t]; r->method; r++)
			n++;
	routes = calloc(n ? n : 1, sizeof(*routes));
	if (!routes)
		return ENOMEM;
	for (size_t t = 0; api_route_tables[t]; t++)
		for (const struct api_route *r = api_route_tables[t]; r->method; r++)
			routes[k++] = r;
	nroutes = n;
	return 0;
}

void router_free(void)
{
	free(routes);
	routes = NULL;
	nroutes = 0;
}

size_t router_count(void) { return nroutes; }

const struct api_route *router_get(size_t i) { return i < nroutes ? routes[i] : NULL; }

/* Splits a writable path into its segments (no empty ones but a trailing
 * one, which no pattern matches). Returns the count, or -1 if too many. */
static int split(char *p, char **seg)
{
	int n = 0;

	if (*p != '/')
		return -1;
	while (*p == '/') {
		*p++ = '\0';
		if (n == MAX_SEGS)
			return -1;
		seg[n++] = p;
		p += strcspn(p, "/");
	}
	return n;
}

/* A positive decimal id of at most 18 digits, no leading zero. */
static int is_id(const char *s, int64_t *v)
{
	size_t n = strlen(s);
	int64_t x = 0;

	if (n == 0 || n > 18 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 1;
}

/* Matches one pattern against the segments; fills params on success. */
static int match(const char *pat, char **seg, int nseg, struct api_req *r)
{
	int i = 0, nid = 0, narg = 0;
	size_t len;

	while (*pat == '/') {
		pat++;
		len = strcspn(pat, "/");
		if (i == nseg)
			return 0;
		if (len == 4 && strncmp(pat, "{id}", 4) == 0) {
			if (nid == API_MAX_PARAMS || !is_id(seg[i], &r->idv[nid]))
				return 0;
			r->id[nid++] = seg[i];
		} else if (len == 3 && strncmp(pat, "{*}", 3) == 0) {
			if (narg == API_MAX_PARAMS || seg[i][0] == '\0')
				return 0;
			r->arg[narg++] = seg[i];
		} else if (strlen(seg[i]) != len || strncmp(pat, seg[i], len) != 0) {
			return 0;
		}
		pat += len;
		i++;
	}
	return i == nseg;
}

/* Adds method to the Allow list of h (once; GET brings HEAD). */
static void allow_add(struct api_http *h, const char *method)
{
	size_t n = strlen(h->allow);

	if (strstr(h->allow, method))
		return;
	snprintf(h->allow + n, sizeof(h->allow) - n, "%s%s", n ? ", " : "", method);
	if (strcmp(method, "GET") == 0)
		allow_add(h, "HEAD");
}

int router_match(struct api_http *h, const char *method, const char *url)
{
	char *seg[MAX_SEGS];
	int nseg, known = 0;

	h->route_idx = -1;
	h->allow[0] = '\0';
	free(h->path);
	if (!(h->path = strdup(url)))
		return ENOMEM;
	if ((nseg = split(h->path, seg)) < 0)
		return ENOENT;
	for (size_t i = 0; i < nroutes; i++) {
		if (!match(routes[i]->pattern, seg, nseg, &h->req))
			continue;
		if (strcmp(routes[i]->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(routes[i]->method, "GET") == 0)) {
			h->route = routes[i];
			h->route_idx = (int)i;
			return 0;
		}
		known = 1;
		allow_add(h, routes[i]->method);
	}
	if (known)
		h->route_idx = -2;
	return ENOENT;
}
