/* mgmtd/api_calls.c — call records (dpn.calls, written by dpn-gatekeeper):
 * GET /api/v1/flats/{id}/calls (calls the flat placed or received) and
 * GET /api/v1/sites/{id}/calls (the whole complex), newest first.
 *
 * Paging by cursor, stable while new calls arrive: ?limit= (1..200,
 * default 50) rows, and `next_cursor` in the answer (null on the last
 * page) goes back as ?cursor= for the next, older page. Filters: number
 * (digits, dashes ignored: a call whose caller, callee or answering
 * handset contains it), since / until (ISO 8601 date or time: started at
 * or after / before), status (answered, unanswered, or a SIP status).
 * A manager sees the flats of their buildings only: a flat of another
 * building is 404, and the site list holds only calls with a flat of
 * theirs at one end. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_res.h"

#define CALL_JSON "json_build_object('id', c.id, 'call_id', c.call_id, " \
	"'direction', c.direction, 'caller', c.caller, 'callee', c.callee, " \
	"'caller_flat_id', c.caller_flat_id, 'callee_flat_id', c.callee_flat_id, " \
	"'answered_by', c.answered_by, 'answered_handset', c.answered_handset, " \
	"'started_at', c.started_at, 'answered_at', c.answered_at, " \
	"'ended_at', c.ended_at, 'duration_s', round(extract(epoch FROM " \
	"c.ended_at - c.answered_at)::numeric, 3), 'ended_by', c.ended_by, " \
	"'status', c.status, 'reason', c.reason)"

/* The filters of both lists: $2 number, $3 since, $4 until, $5 status,
 * $6 cursor microseconds, $7 cursor id (NULL: no filter). */
#define CALL_MATCH "($2::text IS NULL OR strpos(replace(c.caller, '-', ''), $2) > 0 " \
	"OR strpos(replace(c.callee, '-', ''), $2) > 0 OR " \
	"strpos(replace(coalesce(c.answered_by, ''), '-', ''), $2) > 0) " \
	"AND ($3::timestamptz IS NULL OR c.started_at >= $3::timestamptz) " \
	"AND ($4::timestamptz IS NULL OR c.started_at < $4::timestamptz) " \
	"AND ($5::text IS NULL OR ($5 = 'answered' AND c.answered_at IS NOT NULL) " \
	"OR ($5 = 'unanswered' AND c.answered_at IS NULL) OR c.status::text = $5) " \
	"AND ($6::bigint IS NULL OR (c.started_at, c.id) < (timestamptz 'epoch' + " \
	"$6::bigint * interval '1 microsecond', $7::bigint))"

/* The page of rows m (numbered n, newest first; one more than $8 asked
 * for, to know whether an older page follows) as the answer. */
#define CALL_PAGE "SELECT json_build_object('items', coalesce((SELECT " \
	"json_agg(" CALL_JSON " ORDER BY c.n) FROM m c WHERE c.n <= $8::int), '[]'), " \
	"'next_cursor', (SELECT (extract(epoch FROM c.started_at) * 1000000)::bigint " \
	"|| '-' || c.id FROM m c WHERE c.n = $8::int AND EXISTS (SELECT 1 FROM m " \
	"WHERE n > $8::int))) "

#define CALL_ORDER "ORDER BY c.started_at DESC, c.id DESC LIMIT $8::int + 1"

struct call_q {
	char number[40], cursor_us[24], cursor_id[24], limit[8];
	const char *since, *until, *status;
	int has_number, has_cursor;
};

/* "2026-12-04", "2026-12-04T21:00:00Z", "...:00.123Z", "...:00+01:00". */
static int time_ok(const char *s)
{
	static const char *const forms[] = { "dddd-dd-dd",
		"dddd-dd-ddTdd:dd:ddZ", "dddd-dd-ddTdd:dd:dd.dddZ",
		"dddd-dd-ddTdd:dd:dd+dd:dd", "dddd-dd-ddTdd:dd:dd-dd:dd", NULL };
	struct tm tm;

	for (int i = 0; forms[i]; i++) {
		const char *f = forms[i], *p = s;

		for (; *f && *p; f++, p++)
			if (*f == 'd' ? !isdigit((unsigned char)*p) : *f != *p)
				break;
		if (!*f && !*p) {
			memset(&tm, 0, sizeof(tm));
			p = strptime(s, "%Y-%m-%d", &tm);
			return p && (!*p || *p == 'T') && (!*p ||
				     strptime(p + 1, "%H:%M:%S", &tm));
		}
	}
	return 0;
}

/* ?number=: digits, dashes dropped, into q->number. 0 or EINVAL. */
static int number_get(struct api_req *r, struct call_q *q)
{
	const char *s = api_query(r, "number");
	size_t n = 0;

	if (!s)
		return 0;
	for (; *s && n < sizeof(q->number) - 1; s++) {
		if (isdigit((unsigned char)*s))
			q->number[n++] = *s;
		else if (*s != '-')
			break;
	}
	if (*s || n == 0) {
		api_error(r, 422, "number", "number must be digits (dashes "
			  "allowed), at most %zu", sizeof(q->number) - 1);
		return EINVAL;
	}
	q->number[n] = '\0';
	q->has_number = 1;
	return 0;
}

/* A decimal of 1..18 digits. */
static int digits_ok(const char *s, size_t n)
{
	return n > 0 && n <= 18 && strspn(s, "0123456789") >= n;
}

/* ?cursor=US-ID (a next_cursor) and ?limit=. 0 or EINVAL. */
static int paging_get(struct api_req *r, struct call_q *q)
{
	const char *c = api_query(r, "cursor"), *l = api_query(r, "limit");
	const char *dash = c ? strchr(c, '-') : NULL;
	long v;

	if (c && (!dash || !digits_ok(c, (size_t)(dash - c)) ||
		  !digits_ok(dash + 1, strlen(dash + 1)))) {
		api_error(r, 422, "cursor", "cursor must be a next_cursor of "
			  "an earlier page");
		return EINVAL;
	}
	if (c) {
		snprintf(q->cursor_us, sizeof(q->cursor_us), "%.*s",
			 (int)(dash - c), c);
		snprintf(q->cursor_id, sizeof(q->cursor_id), "%s", dash + 1);
		q->has_cursor = 1;
	}
	v = 50;
	if (l && (!digits_ok(l, strlen(l)) || strlen(l) > 3 ||
		  (v = atol(l)) < 1 || v > 200)) {
		api_error(r, 422, "limit", "limit must be 1 to 200");
		return EINVAL;
	}
	snprintf(q->limit, sizeof(q->limit), "%ld", v);
	return 0;
}

static int status_ok(const char *s)
{
	return !strcmp(s, "answered") || !strcmp(s, "unanswered") ||
	       (strlen(s) == 3 && strspn(s, "0123456789") == 3 &&
		s[0] >= '1' && s[0] <= '6');
}

/* Every query parameter checked: 0, or answered 422 naming it. */
static int query_get(struct api_req *r, struct call_q *q)
{
	memset(q, 0, sizeof(*q));
	q->since = api_query(r, "since");
	q->until = api_query(r, "until");
	q->status = api_query(r, "status");
	if (number_get(r, q) || paging_get(r, q))
		return EINVAL;
	if (q->since && !time_ok(q->since)) {
		api_error(r, 422, "since", "since must be an ISO 8601 date or "
			  "time (2026-12-04 or 2026-12-04T21:00:00Z)");
		return EINVAL;
	}
	if (q->until && !time_ok(q->until)) {
		api_error(r, 422, "until", "until must be an ISO 8601 date or "
			  "time (2026-12-04 or 2026-12-04T21:00:00Z)");
		return EINVAL;
	}
	if (q->status && !status_ok(q->status)) {
		api_error(r, 422, "status", "status must be answered, "
			  "unanswered or a SIP status (100 to 699)");
		return EINVAL;
	}
	return 0;
}

static void flat_calls(struct api_req *r)
{
	struct call_q q;

	if (query_get(r, &q))
		return;
	api_get_one(r, "no such flat", "WITH m AS (SELECT c.*, row_number() OVER "
	    "(ORDER BY c.started_at DESC, c.id DESC) AS n FROM (SELECT c.* FROM "
	    "dpn.calls c WHERE (c.caller_flat_id = $1 OR c.callee_flat_id = $1) AND "
	    CALL_MATCH " " CALL_ORDER ") c) " CALL_PAGE "FROM dpn.flats f WHERE f.id = $1 "
	    "AND " RES_SCOPE("9", "f.building_id"), r->id[0],
	    q.has_number ? q.number : NULL, q.since, q.until, q.status,
	    q.has_cursor ? q.cursor_us : NULL, q.has_cursor ? q.cursor_id : NULL,
	    q.limit, api_scope(r));
}

/* A call with a flat of the manager's ($9) at one end. */
#define CALL_SCOPE "($9::bigint IS NULL OR EXISTS (SELECT 1 FROM dpn.flats f " \
	"JOIN dpn.user_buildings ub ON ub.building_id = f.building_id WHERE " \
	"ub.user_id = $9::bigint AND f.id IN (c.caller_flat_id, c.callee_flat_id)))"

static void site_calls(struct api_req *r)
{
	struct call_q q;

	if (query_get(r, &q))
		return;
	api_get_one(r, "no such site", "WITH m AS (SELECT c.*, row_number() OVER "
	    "(ORDER BY c.started_at DESC, c.id DESC) AS n FROM (SELECT c.* FROM "
	    "dpn.calls c WHERE c.site_id = $1 AND " CALL_SCOPE " AND " CALL_MATCH
	    " " CALL_ORDER ") c) " CALL_PAGE "FROM dpn.sites s WHERE s.id = $1 AND ($9::bigint "
	    "IS NULL OR EXISTS (SELECT 1 FROM dpn.user_buildings ub JOIN "
	    "dpn.buildings b ON b.id = ub.building_id WHERE ub.user_id = $9::bigint "
	    "AND b.site_id = s.id))", r->id[0],
	    q.has_number ? q.number : NULL, q.since, q.until, q.status,
	    q.has_cursor ? q.cursor_us : NULL, q.has_cursor ? q.cursor_id : NULL,
	    q.limit, api_scope(r));
}

const struct api_route api_calls_routes[] = {
	{ "GET", "/api/v1/flats/{id}/calls", flat_calls, API_ADMIN },
	{ "GET", "/api/v1/sites/{id}/calls", site_calls, API_ADMIN },
	API_ROUTES_END
};
