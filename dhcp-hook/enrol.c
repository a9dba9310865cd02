/* dhcp-hook/enrol.c — first-sight enrolments grouped into one transaction
 * (see enrol.h). */
#include "dhcp-hook/enrol.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dhcp_enrol_group {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dhcp_enrol_req *head, **tail;	/* queued, oldest first */
	int busy;				/* a leader is running */
	size_t max;
	struct dhcp_enrol_req **batch;		/* the leader's, max slots */
};

int dhcp_enrol_group_new(size_t max, struct dhcp_enrol_group **out)
{
	struct dhcp_enrol_group *g;

	if (max < 1 || max > DHCP_ENROL_BATCH_MAX)
		return EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return ENOMEM;
	g->batch = calloc(max, sizeof(*g->batch));
	if (!g->batch) {
		free(g);
		return ENOMEM;
	}
	g->max = max;
	g->tail = &g->head;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	*out = g;
	return 0;
}

void dhcp_enrol_group_free(struct dhcp_enrol_group *g)
{
	if (!g)
		return;
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g->batch);
	free(g);
}

/* Moves up to max queued requests into the batch (lock held). */
static size_t take_batch(struct dhcp_enrol_group *g)
{
	size_t n = 0;

	while (g->head && n < g->max) {
		g->batch[n++] = g->head;
		g->head = g->head->next;
	}
	if (!g->head)
		g->tail = &g->head;
	return n;
}

void dhcp_enrol_group_do(struct dhcp_enrol_group *g, struct dhcp_enrol_req *req,
			 dhcp_enrol_run_fn run, void *arg)
{
	size_t i, n;

	req->done = 0;
	req->next = NULL;
	pthread_mutex_lock(&g->lock);
	*g->tail = req;
	g->tail = &req->next;
	while (!req->done) {
		if (g->busy) {
			pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		g->busy = 1;
		n = take_batch(g);
		pthread_mutex_unlock(&g->lock);
		run(arg, g->batch, n);
		pthread_mutex_lock(&g->lock);
		for (i = 0; i < n; i++)
			g->batch[i]->done = 1;
		g->busy = 0;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
}

/* Appends s to an array literal being built at lit + *used. */
static int lit_put(char *lit, size_t len, size_t *used, const char *s)
{
	size_t n = strlen(s);

	if (*used + n + 1 > len)	/* and the final NUL */
		return ENOSPC;
	memcpy(lit + *used, s, n);
	*used += n;
	return 0;
}

/* A circuit-id as a quoted array element: " and \ escaped. */
static void quote(const char *s, char *out)
{
	*out++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*out++ = '\\';
		*out++ = *s;
	}
	*out++ = '"';
	*out = '\0';
}

int dhcp_enrol_literals(struct dhcp_enrol_req *const *reqs, size_t n,
			char *lit[3], size_t len)
{
	char item[3][2 * DHCP_CIRCUIT_MAX + 4];
	size_t used[3] = { 0, 0, 0 }, i, k;
	int rc = 0;

	for (k = 0; k < 3 && !rc; k++)
		rc = lit_put(lit[k], len, &used[k], "{");
	for (i = 0; i < n && !rc; i++) {
		snprintf(item[0], sizeof(item[0]), "%s%u", i ? "," : "",
			 reqs[i]->subnet_id);
		item[1][0] = ',';
		quote(reqs[i]->circuit, item[1] + (i ? 1 : 0));
		snprintf(item[2], sizeof(item[2]), "%s%s", i ? "," : "",
			 reqs[i]->mac);
		for (k = 0; k < 3 && !rc; k++)
			rc = lit_put(lit[k], len, &used[k], item[k]);
	}
	for (k = 0; k < 3 && !rc; k++) {
		rc = lit_put(lit[k], len, &used[k], "}");
		lit[k][used[k]] = '\0';
	}
	return rc;
}

PGresult *dhcp_enrol_exec(PGconn *conn, struct dhcp_enrol_req *const *reqs,
			  size_t n)
{
	size_t len = n * (2 * DHCP_CIRCUIT_MAX + 4) + 8, i;
	char *buf = malloc(3 * len);
	char *lit[3] = { buf, buf + len, buf + 2 * len };
	PGresult *res;

	if (!buf || dhcp_enrol_literals(reqs, n, lit, len)) {
		free(buf);
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	}
	res = PQexecParams(conn, "SELECT dpn.dhcp_identify(p, c, m, true) FROM "
			   "unnest($1::bigint[], $2::text[], $3::macaddr[]) "
			   "WITH ORDINALITY AS t(p, c, m, i) ORDER BY i", 3, NULL,
			   (const char *const *)lit, NULL, NULL, 0);
	free(buf);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != (int)n)
		return res;
	for (i = 0; i < n; i++)
		snprintf(reqs[i]->answer, sizeof(reqs[i]->answer), "%s",
			 PQgetvalue(res, (int)i, 0));
	PQclear(res);
	return NULL;
}
