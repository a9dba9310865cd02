/* tests/unit/test_gk_topo.c — the gatekeeper's topology hiding table
 * (gatekeeper/topo.c) without sockets: an INVITE begun inside leaves with
 * the gatekeeper's Contact, From host and Call-ID; the answer goes back
 * in with the Call-ID it had; a request from outside to the key gets the
 * private Contact and route set; a wrong Call-ID or key is refused; an
 * in-dialog request for an unknown dialog keeps its Call-ID; an answer to
 * a call from outside loses the private Record-Routes and Contact; the
 * table is bounded and forgets idle dialogs; its store hook saves answered
 * dialogs and deletes ended ones, and a new table takes them back. The
 * media-timeout BYEs (gatekeeper/media_dlg.c) to each end of a call from
 * outside and of one begun inside: route set, target, tags, CSeq, next
 * hop, and the Call-ID and identities topo gives them on each side.
 * gk_now, gk_side_self and gk_side_choose are defined below in place of
 * the daemon's (a settable clock; sides told by each test). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "gatekeeper/gk.h"
#include "gatekeeper/media_dlg.h"
#include "sip_testutil.h"
#include "sip/hdr.h"

static uint64_t now = 1000;

uint64_t gk_now(void)
{
	return now;
}

int gk_side_self(const struct gk *g, struct sip_str host, unsigned port)
{
	port = port ? port : 5060;
	return (sip_str_eq(host, g->host) && port == g->port) ||
	       (sip_str_eq(host, g->phost) && port == g->pport);
}

void gk_side_choose(const struct gk *g, struct sip_peer *p)
{
	(void)g;
	(void)p;	/* the tests say the side themselves */
}

static struct gk g;
static struct prom *reg;
static struct sip_peer pub = { .local = 0 }, priv = { .local = 1 };
static char text[4][2048];	/* messages being worked on */
static struct sip_msg msg[4];

static int setup(void **st)
{
	struct prom_family *f;
	(void)st;

	memset(&g, 0, sizeof(g));
	snprintf(g.host, sizeof(g.host), "192.0.2.10");
	snprintf(g.phost, sizeof(g.phost), "10.0.0.1");
	g.port = g.pport = 5060;
	g.priv = 1;
	assert_int_equal(prom_new(&reg), 0);
	assert_int_equal(prom_family_add(reg, PROM_COUNTER, "x", "x", NULL,
					 NULL, 0, &f), 0);
	assert_int_equal(prom_series(f, NULL, &g.m.topo_full), 0);
	g.m.topo_unknown = g.m.topo_full;
	return gk_topo_new(16, 60, 40, &g.topo);
}

static int teardown(void **st)
{
	(void)st;
	for (int i = 0; i < 4; i++)
		sip_msg_release(&msg[i]);
	gk_topo_free(g.topo);
	prom_free(reg);
	return 0;
}

static struct sip_msg *parse(int slot, const char *fmt, ...)
{
	struct sip_perr e;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text[slot], sizeof(text[slot]), fmt, ap);
	va_end(ap);
	sip_msg_release(&msg[slot]);
	assert_int_equal(sip_msg_parse(&msg[slot], text[slot], (size_t)n, 0,
				       &e), 0);
	return &msg[slot];
}

static struct sip_str hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	int i = sip_msg_hdr_find(m, id, 0);

	assert_true(i >= 0);
	return m->hdrs[i].value;
}

static void assert_hdr(const struct sip_msg *m, enum sip_hdr_id id,
		       const char *want)
{
	struct sip_str v = hdr(m, id);
	char got[512];

	snprintf(got, sizeof(got), "%.*s", (int)v.len, v.s);
	assert_string_equal(got, want);
}

#define REQ "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK1\r\n" \
	"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 %s\r\n%s" \
	"Content-Length: 0\r\n\r\n"
#define RESP "SIP/2.0 %d X\r\nVia: SIP/2.0/UDP 1.1.1.1;branch=z9hG4bK1\r\n" \
	"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 %s\r\n%s" \
	"Content-Length: 0\r\n\r\n"

/* An INVITE begun inside (a flat's gateway at 10.0.0.7), as it came. */
static struct sip_msg *inside_invite(int slot)
{
	return parse(slot, REQ, "INVITE", "sip:o@203.0.113.5",
		"10.0.0.7", "\"2\" <sip:100-1101-0101-2@10.0.0.7:5062>;tag=a",
		"<sip:o@203.0.113.5>", "cid1@10.0.0.7", "INVITE",
		"Contact: <sip:gw@10.0.0.7:5062;transport=udp>\r\n"
		/* ours on top, as the core puts it: not in the route set */
		"Record-Route: <sip:192.0.2.10:5060;lr>\r\n"
		"Record-Route: <sip:10.0.0.7;lr>\r\n");
}

/* That INVITE out by the public side; its public Call-ID (gk-KEY@...)
 * into pubcid. */
static void invite_out(char *pubcid, size_t cap)
{
	struct sip_msg *m = inside_invite(0);
	struct sip_str v;

	assert_int_equal(gk_topo_branch_out(&g, NULL, m, &pub), 0);
	v = hdr(m, SIP_HDR_CALL_ID);
	assert_true(v.len > 20 && memcmp(v.s, "gk-", 3) == 0);
	assert_memory_equal(v.s + 19, "@192.0.2.10", 11);
	snprintf(pubcid, cap, "%.*s", (int)v.len, v.s);
	assert_hdr(m, SIP_HDR_FROM,
		   "\"2\" <sip:100-1101-0101-2@192.0.2.10>;tag=a");
	v = hdr(m, SIP_HDR_CONTACT);
	assert_int_equal(v.len, sizeof("<sip:gk-0123456789abcdef@192.0.2.10:5060>") - 1);
	assert_memory_equal(v.s + 8, pubcid + 3, 16);	/* the same key */
}

static void t_dialog_begun_inside(void **st)
{
	char pubcid[64], ruri[256], contact[128];
	struct sip_msg *m;
	(void)st;

	invite_out(pubcid, sizeof(pubcid));
	assert_int_equal(gk_topo_count(g.topo), 1);
	/* the answer from outside goes in with the Call-ID it had */
	m = parse(1, RESP, 200, "<sip:x@192.0.2.10>;tag=a",
		  "<sip:o@203.0.113.5>;tag=b", pubcid, "INVITE", "");
	assert_int_equal(gk_topo_response_out(&g, NULL, m, &priv), 0);
	assert_hdr(m, SIP_HDR_CALL_ID, "cid1@10.0.0.7");
	now += 45;		/* answered 2xx: past the ringing time, kept */
	gk_topo_expire(g.topo, now);
	assert_int_equal(gk_topo_count(g.topo), 1);
	/* its ACK out: public Call-ID and From, and no Contact (an ACK
	 * may carry the gateway's) */
	m = parse(2, REQ, "ACK", "sip:o@203.0.113.5", "10.0.0.7",
		  "<sip:100-1101-0101-2@10.0.0.7:5062>;tag=a",
		  "<sip:o@203.0.113.5>;tag=b", "cid1@10.0.0.7", "ACK",
		  "Contact: <sip:gw@10.0.0.7:5062>\r\n");
	assert_int_equal(gk_topo_ack_out(&g, m, &pub), 0);
	assert_hdr(m, SIP_HDR_CALL_ID, pubcid);
	assert_hdr(m, SIP_HDR_FROM, "<sip:100-1101-0101-2@192.0.2.10>;tag=a");
	assert_int_equal(sip_msg_hdr_find(m, SIP_HDR_CONTACT, 0), -1);
	/* a BYE from outside to the key: private target, route set */
	snprintf(contact, sizeof(contact), "sip:gk-%.16s@192.0.2.10:5060",
		 pubcid + 3);
	m = parse(2, REQ, "BYE", contact, "203.0.113.5", "<sip:o@x>;tag=b",
		  "<sip:x@192.0.2.10>;tag=a", pubcid, "BYE", "");
	assert_int_equal(gk_topo_request_in(&g, m, ruri, sizeof(ruri)), 0);
	assert_string_equal(ruri, "sip:gw@10.0.0.7:5062;transport=udp");
	assert_hdr(m, SIP_HDR_ROUTE, "<sip:10.0.0.7;lr>");
	/* going in by the private side, the Call-ID it had */
	assert_int_equal(gk_topo_branch_out(&g, NULL, m, &priv), 0);
	assert_hdr(m, SIP_HDR_CALL_ID, "cid1@10.0.0.7");
	/* the key with another Call-ID, and an unknown key: 481 */
	m = parse(3, REQ, "BYE", contact, "203.0.113.5", "<sip:o@x>;tag=b",
		  "<sip:x@y>;tag=a", "other@203.0.113.5", "BYE", "");
	assert_int_equal(gk_topo_request_in(&g, m, ruri, sizeof(ruri)), ESRCH);
	m = parse(3, REQ, "BYE", "sip:gk-0000000000000001@192.0.2.10",
		  "203.0.113.5", "<sip:o@x>;tag=b", "<sip:x@y>;tag=a", pubcid,
		  "BYE", "");
	assert_int_equal(gk_topo_request_in(&g, m, ruri, sizeof(ruri)), ESRCH);
	m = parse(3, REQ, "BYE", "sip:o@203.0.113.5", "203.0.113.5",
		  "<sip:o@x>;tag=b", "<sip:x@y>;tag=a", pubcid, "BYE", "");
	assert_int_equal(gk_topo_request_in(&g, m, ruri, sizeof(ruri)), ENOENT);
	/* after the BYE the dialog lingers 32 s, then goes */
	now += 33;
	gk_topo_expire(g.topo, now);
	assert_int_equal(gk_topo_count(g.topo), 0);
}

/* A request inside a dialog we never saw (begun outside, before a
 * restart) keeps the Call-ID the other end knows. */
static void t_unknown_dialog_keeps_its_call_id(void **st)
{
	struct sip_msg *m = parse(0, REQ, "BYE", "sip:o@203.0.113.5",
		"10.0.0.7", "<sip:n@192.0.2.10>;tag=a", "<sip:o@x>;tag=b",
		"theirs@203.0.113.5", "BYE", "");
	(void)st;

	assert_int_equal(gk_topo_branch_out(&g, NULL, m, &pub), 0);
	assert_hdr(m, SIP_HDR_CALL_ID, "theirs@203.0.113.5");
}

/* A call from outside: the gateway's answer loses the private
 * Record-Routes (kept as the route set) and its Contact. */
static void t_answer_to_outside(void **st)
{
	static const char rr[] = "Record-Route: <sip:10.0.0.7;lr>, "
		"<sip:10.0.0.1:5060;lr>\r\nRecord-Route: <sip:192.0.2.10:5060;"
		"lr>, <sip:203.0.113.9;lr>\r\nContact: <sip:gw@10.0.0.7>\r\n";
	struct sip_msg *m = parse(0, REQ, "INVITE", "sip:100@192.0.2.10",
		"203.0.113.5", "<sip:o@203.0.113.5>;tag=b",
		"<sip:100@192.0.2.10>", "c2@203.0.113.5", "INVITE", "");
	struct sip_str v;
	char got[256];
	(void)st;

	assert_int_equal(gk_topo_inbound(&g, m), 0);
	m = parse(1, RESP, 200, "<sip:o@203.0.113.5>;tag=b",
		  "<sip:100@10.0.0.7>;tag=a", "c2@203.0.113.5", "INVITE", rr);
	assert_int_equal(gk_topo_response_out(&g, NULL, m, &pub), 0);
	assert_hdr(m, SIP_HDR_RECORD_ROUTE,
		   "<sip:192.0.2.10:5060;lr>, <sip:203.0.113.9;lr>");
	assert_int_equal(sip_msg_hdr_count(m, SIP_HDR_RECORD_ROUTE), 1);
	assert_hdr(m, SIP_HDR_TO, "<sip:100@192.0.2.10>;tag=a");
	v = hdr(m, SIP_HDR_CONTACT);
	snprintf(got, sizeof(got), "%.*s", (int)v.len, v.s);
	assert_non_null(strstr(got, "<sip:gk-"));
	assert_null(strstr(got, "10.0.0"));
	assert_int_equal(gk_topo_count(g.topo), 1);
}

static void t_bounded(void **st)
{
	char cid[32];
	(void)st;

	for (int i = 0; i < 17; i++) {
		struct sip_msg *m;
		snprintf(cid, sizeof(cid), "b%d", i);
		m = parse(0, REQ, "INVITE", "sip:1@192.0.2.10", "203.0.113.5",
			  "<sip:o@x>;tag=b", "<sip:1@y>", cid, "INVITE", "");
		assert_int_equal(gk_topo_inbound(&g, m), i < 16 ? 0 : ENOSPC);
	}
	assert_int_equal(prom_value(g.m.topo_full), 1);
	now += 41;		/* never answered: gone after the ringing time */
	gk_topo_expire(g.topo, now);
	assert_int_equal(gk_topo_count(g.topo), 0);
}

static void assert_peer(const struct sip_peer *p, const char *host,
			unsigned port, unsigned local)
{
	char got[64];
	unsigned gport;

	sip_peer_addr(p, got, sizeof(got), &gport);
	assert_string_equal(got, host);
	assert_int_equal(gport, port);
	assert_int_equal(p->local, local);
}

static struct sip_peer peer_at(const char *host, unsigned port,
			       unsigned local)
{
	struct sip_peer p;

	assert_int_equal(sip_peer_set(&p, SIP_PROTO_UDP, (struct sip_str){
		host, strlen(host) }, port), 0);
	p.local = local;
	return p;
}

/* The BYE of d to the callee or the caller, parsed into slot 3; its next
 * hop into *next. */
static struct sip_msg *bye(struct gk_media_dlg *d, int callee,
			   const char *callid, struct sip_peer *next)
{
	sip_msg_release(&msg[3]);
	assert_int_equal(gk_media_dlg_bye_msg(&g, d, callee, callid,
		"Reason: Q.850;cause=16\r\n", text[3], sizeof(text[3]),
		&msg[3], next), 0);
	return &msg[3];
}

/* What a BYE to one end must be. */
struct bye_want {
	int callee;
	const char *ruri, *route, *from, *to, *cseq, *via, *next;
	unsigned port, local;
};

static void check_bye(struct gk_media_dlg *d, const char *callid,
		      const struct bye_want *w)
{
	struct sip_peer next;
	struct sip_msg *m = bye(d, w->callee, callid, &next);

	assert_slice(m->ruri, w->ruri);
	assert_hdr(m, SIP_HDR_ROUTE, w->route);
	assert_hdr(m, SIP_HDR_FROM, w->from);
	assert_hdr(m, SIP_HDR_TO, w->to);
	assert_hdr(m, SIP_HDR_CALL_ID, callid);
	assert_hdr(m, SIP_HDR_CSEQ, w->cseq);
	assert_non_null(strstr(text[3], w->via));
	assert_peer(&next, w->next, w->port, w->local);
}

/* Outside -> flat through a proxy at 203.0.113.9, the gateway
 * record-routing: each BYE through its end's route set, the flat's to its
 * binding, to the target the last refresh set; CSeq above the other end's
 * last. As in every request leaving
 * by the public side, an address as host becomes ours (the dialog is
 * told by its tags). */
static void t_media_bye_call_from_outside(void **st)
{
	struct sip_msg *inv = parse(0, REQ, "INVITE", "sip:100@192.0.2.10",
		"203.0.113.5", "<sip:o@203.0.113.5>;tag=b",
		"<sip:100@192.0.2.10>", "c3@203.0.113.5", "INVITE",
		"Contact: <sip:o@203.0.113.5:5070>\r\n"
		"Record-Route: <sip:203.0.113.9;lr>\r\n");
	static const struct bye_want want[2] = {
		{ 1, "sip:h2@10.0.0.7:5064", "<sip:10.0.0.7;lr>",
		  "<sip:o@203.0.113.5>;tag=b", "<sip:100@192.0.2.10>;tag=a",
		  "2 BYE", "Via: SIP/2.0/UDP 10.0.0.1:5060;", "10.0.0.7", 5062,
		  1 },
		{ 0, "sip:o2@203.0.113.5:5071", "<sip:203.0.113.9;lr>",
		  "<sip:100@192.0.2.10>;tag=a", "<sip:o@192.0.2.10>;tag=b",
		  "42 BYE", "Via: SIP/2.0/UDP 192.0.2.10:5060;", "203.0.113.9",
		  5060, 0 },
	};
	struct sip_peer gw = peer_at("10.0.0.7", 5062, 1);
	struct gk_media_dlg *d;
	struct sip_msg *m;
	(void)st;

	assert_int_equal(gk_topo_inbound(&g, inv), 0);
	m = parse(1, RESP, 200, "<sip:o@203.0.113.5>;tag=b",
		  "<sip:100@192.0.2.10>;tag=a", "c3@203.0.113.5", "INVITE",
		  "Record-Route: <sip:10.0.0.7;lr>, <sip:10.0.0.1:5060;lr>\r\n"
		  "Record-Route: <sip:192.0.2.10:5060;lr>, <sip:203.0.113.9;lr>"
		  "\r\nContact: <sip:h1@10.0.0.7:5062>\r\n");
	assert_int_equal(gk_media_dlg_new(&g, inv, m, &gw, 0, &d), 0);
	/* an UPDATE from the callee and its 2xx move both targets */
	gk_media_dlg_request(d, parse(2, "UPDATE sip:o@203.0.113.5:5070 SIP/2.0"
		"\r\nVia: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK2\r\nFrom: "
		"<sip:100@192.0.2.10>;tag=a\r\nTo: <sip:o@203.0.113.5>;tag=b\r\n"
		"Call-ID: c3@203.0.113.5\r\nCSeq: 41 UPDATE\r\n"
		"Contact: <sip:h2@10.0.0.7:5064>\r\n\r\n"));
	gk_media_dlg_answer(d, parse(2, RESP, 200, "<sip:100@192.0.2.10>;tag=a",
		"<sip:o@203.0.113.5>;tag=b", "c3@203.0.113.5", "UPDATE",
		"Contact: <sip:o2@203.0.113.5:5071>\r\n"));
	for (int i = 0; i < 2; i++)
		check_bye(d, "c3@203.0.113.5", &want[i]);
	gk_media_dlg_free(d);
}

/* The caller's nearest proxy a strict router (RFC 2543, no ;lr): the
 * BYE to the caller has it as Request-URI and next hop, the rest of the
 * route set and the caller's Contact as Route (RFC 3261 12.2.1.1). */
static void t_media_bye_strict_router(void **st)
{
	static const struct bye_want want = { 0, "sip:203.0.113.9",
		"<sip:203.0.113.8;lr>, <sip:o@203.0.113.5:5070>",
		"<sip:100@192.0.2.10>;tag=a", "<sip:o@192.0.2.10>;tag=b", "1 BYE",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;", "203.0.113.9", 5060, 0 };
	struct sip_msg *inv = parse(0, REQ, "INVITE", "sip:100@192.0.2.10",
		"203.0.113.5", "<sip:o@203.0.113.5>;tag=b",
		"<sip:100@192.0.2.10>", "c4@203.0.113.5", "INVITE",
		"Contact: <sip:o@203.0.113.5:5070>\r\n"
		"Record-Route: <sip:203.0.113.9>, <sip:203.0.113.8;lr>\r\n");
	struct sip_peer gw = peer_at("10.0.0.7", 5062, 1);
	struct gk_media_dlg *d;
	(void)st;

	assert_int_equal(gk_topo_inbound(&g, inv), 0);
	assert_int_equal(gk_media_dlg_new(&g, inv, parse(1, RESP, 200,
		"<sip:o@203.0.113.5>;tag=b", "<sip:100@192.0.2.10>;tag=a",
		"c4@203.0.113.5", "INVITE", "Contact: <sip:h1@10.0.0.7>\r\n"),
		&gw, 0, &d), 0);
	check_bye(d, "c4@203.0.113.5", &want);
	gk_media_dlg_free(d);
}

/* A call begun inside (anchored flat -> outside): the BYE outside has
 * the public Call-ID and our address in From; the one to the flat the
 * private Call-ID (whichever media keys the call by), its own From. */
static void t_media_bye_dialog_begun_inside(void **st)
{
	struct sip_peer out = peer_at("203.0.113.5", 5060, 0), next;
	struct gk_media_dlg *d;
	struct sip_msg *m;
	char pubcid[64];
	(void)st;

	invite_out(pubcid, sizeof(pubcid));
	m = parse(2, RESP, 200, "<sip:100-1101-0101-2@192.0.2.10>;tag=a",
		  "<sip:o@203.0.113.5>;tag=b", pubcid, "INVITE",
		  "Record-Route: <sip:203.0.113.9;lr>, <sip:192.0.2.10:5060;lr>"
		  "\r\nContact: <sip:o@203.0.113.5>\r\n");
	assert_int_equal(gk_media_dlg_new(&g, inside_invite(1), m, &out, 1,
					  &d), 0);
	m = bye(d, 1, "cid1@10.0.0.7", &next);
	assert_hdr(m, SIP_HDR_CALL_ID, pubcid);
	assert_hdr(m, SIP_HDR_FROM,
		   "\"2\" <sip:100-1101-0101-2@192.0.2.10>;tag=a");
	assert_hdr(m, SIP_HDR_ROUTE, "<sip:203.0.113.9;lr>");
	assert_slice(m->ruri, "sip:o@203.0.113.5");
	assert_peer(&next, "203.0.113.9", 5060, 0);
	for (int i = 0; i < 2; i++) {
		m = bye(d, 0, i ? pubcid : "cid1@10.0.0.7", &next);
		assert_hdr(m, SIP_HDR_CALL_ID, "cid1@10.0.0.7");
		assert_hdr(m, SIP_HDR_TO,
			   "\"2\" <sip:100-1101-0101-2@10.0.0.7:5062>;tag=a");
		assert_hdr(m, SIP_HDR_ROUTE, "<sip:10.0.0.7;lr>");
		assert_slice(m->ruri, "sip:gw@10.0.0.7:5062;transport=udp");
		assert_peer(&next, "10.0.0.7", 5060, 1);
	}
	gk_media_dlg_free(d);
}

/* What the store was told: the last row (copied) and how often. */
static struct { unsigned saves, dels; struct gk_topo_row r;
		char callid[128], contact[128], route[128]; } told;

static void on_store(void *arg, const struct gk_topo_row *r, int del)
{
	(void)arg;
	told.saves += !del;
	told.dels += del != 0;
	told.r = *r;
	snprintf(told.callid, sizeof(told.callid), "%s", r->callid);
	snprintf(told.contact, sizeof(told.contact), "%s", r->contact);
	snprintf(told.route, sizeof(told.route), "%s", r->route);
	told.r.callid = told.callid;
	told.r.contact = told.contact;
	told.r.route = told.route;
}

/* A request from outside in the dialog of public Call-ID pubcid: 0 and
 * the private target in ruri, or the error. */
static int req_in(const char *method, const char *pubcid, char *ruri,
		  size_t cap)
{
	char contact[128];
	struct sip_msg *m;

	snprintf(contact, sizeof(contact), "sip:gk-%.16s@192.0.2.10:5060",
		 pubcid + 3);
	m = parse(2, REQ, method, contact, "203.0.113.5", "<sip:o@x>;tag=b",
		  "<sip:x@192.0.2.10>;tag=a", pubcid, method, "");
	return gk_topo_request_in(&g, m, ruri, cap);
}

/* The store hook: an answered dialog saved from the sweep (not before
 * its answer, not again unchanged, again when kept alive well past its
 * stored expiry), deleted when it ends; a new table takes it back and
 * routes a request from outside by it. */
static void t_store(void **st)
{
	char pubcid[64], ruri[256];
	struct sip_msg *m;
	(void)st;

	memset(&told, 0, sizeof(told));
	gk_topo_set_store(g.topo, on_store, NULL);
	invite_out(pubcid, sizeof(pubcid));
	gk_topo_expire(g.topo, now);
	assert_int_equal(told.saves, 0);	/* ringing: not kept */
	m = parse(1, RESP, 200, "<sip:x@192.0.2.10>;tag=a",
		  "<sip:o@203.0.113.5>;tag=b", pubcid, "INVITE", "");
	assert_int_equal(gk_topo_response_out(&g, NULL, m, &priv), 0);
	gk_topo_expire(g.topo, now);
	gk_topo_expire(g.topo, now);
	assert_int_equal(told.saves, 1);
	assert_string_equal(told.callid, "cid1@10.0.0.7");
	assert_string_equal(told.contact, "sip:gw@10.0.0.7:5062;transport=udp");
	assert_string_equal(told.route, "<sip:10.0.0.7;lr>");
	assert_true(told.r.masked);
	assert_int_equal(told.r.expires, now + 60);
	now += 5;		/* a re-INVITE from outside: not worth a write */
	assert_int_equal(req_in("INVITE", pubcid, ruri, sizeof(ruri)), 0);
	gk_topo_expire(g.topo, now);
	assert_int_equal(told.saves, 1);
	now += 15;		/* past a quarter of dialog-idle: written */
	assert_int_equal(req_in("INFO", pubcid, ruri, sizeof(ruri)), 0);
	gk_topo_expire(g.topo, now);
	assert_int_equal(told.saves, 2);
	assert_int_equal(told.r.expires, now + 60);
	/* the new table of a restart: restored, found by key and Call-ID */
	{
		struct gk_topo_row r = told.r;

		gk_topo_free(g.topo);
		assert_int_equal(gk_topo_new(16, 60, 40, &g.topo), 0);
		assert_int_equal(gk_topo_restore(g.topo, &r), 0);
		assert_int_equal(gk_topo_restore(g.topo, &r), EEXIST);
		r.key = 0;
		assert_int_equal(gk_topo_restore(g.topo, &r), EEXIST);
	}
	gk_topo_set_store(g.topo, on_store, NULL);
	ruri[0] = '\0';
	assert_int_equal(req_in("BYE", pubcid, ruri, sizeof(ruri)), 0);
	assert_string_equal(ruri, "sip:gw@10.0.0.7:5062;transport=udp");
	assert_hdr(&msg[2], SIP_HDR_ROUTE, "<sip:10.0.0.7;lr>");
	assert_string_equal(gk_topo_private_callid(&g, (struct sip_str){
		pubcid, strlen(pubcid) }), "cid1@10.0.0.7");
	gk_topo_expire(g.topo, now);	/* the BYE: the row goes */
	assert_int_equal(told.dels, 1);
	now += 33;
	gk_topo_expire(g.topo, now);
	assert_int_equal(gk_topo_count(g.topo), 0);
	assert_int_equal(told.dels, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_dialog_begun_inside, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			t_unknown_dialog_keeps_its_call_id, setup, teardown),
		cmocka_unit_test_setup_teardown(t_answer_to_outside, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(t_media_bye_call_from_outside,
						setup, teardown),
		cmocka_unit_test_setup_teardown(t_media_bye_dialog_begun_inside,
						setup, teardown),
		cmocka_unit_test_setup_teardown(t_media_bye_strict_router,
						setup, teardown),
		cmocka_unit_test_setup_teardown(t_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
