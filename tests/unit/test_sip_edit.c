/* tests/unit/test_sip_edit.c — editing and writing messages (Via and
 * Record-Route, Request-URI, headers, body with Content-Length), the
 * message builders (responses, ACK, CANCEL, requests) and SDP c=/m=. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "sip/msg.h"
#include "sip/hdr.h"
#include "sip/build.h"
#include "sip/proxy.h"
#include "sip/sdp.h"
#include "sip_testutil.h"

static const char req[] =
	"INVITE sip:100-1101-1201@dpn.test SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKa1, "
	"SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKa0\r\n"
	"Max-Forwards: 70\r\n"
	"To: <sip:100-1101-1201@dpn.test>\r\n"
	"f: <sip:alice@127.0.0.1>;tag=77\r\n"
	"Call-ID: e1@127.0.0.1\r\n"
	"CSeq: 2 INVITE\r\n"
	"Route: <sip:127.0.0.9;lr>\r\n"
	"X-Keep: folded\r\n value\r\n"
	"Content-Type: application/sdp\r\n"
	"l: 4\r\n"
	"\r\n"
	"v=0\n";

static void reparse(const char *out, size_t n, struct sip_msg *m)
{
	struct sip_perr e;

	if (sip_msg_parse(m, out, n, SIP_PARSE_STREAM, &e))
		fail_msg("reparse: %s\n%.*s", e.reason, (int)n, out);
}

static void t_proxy_rewrite(void **st)
{
	struct sip_msg m, r;
	struct sip_perr e;
	struct sip_via v;
	char out[2048], br[SIP_BRANCH_LEN], via[128];
	size_t n;
	unsigned mf;
	int i;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, req, sizeof(req) - 1, 0, &e), 0);
	assert_int_equal(sip_proxy_branch(&m, br, sizeof(br)), 0);
	snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.5:5070;branch=%s", br);
	assert_int_equal(sip_msg_hdr_insert(&m, 0, SIP_HDR_VIA, NULL, via,
					    strlen(via)), 0);
	assert_int_equal(sip_msg_hdr_insert(&m, 1, SIP_HDR_RECORD_ROUTE, NULL,
		"<sip:127.0.0.5:5070;lr>", 23), 0);
	assert_int_equal(sip_msg_set_ruri(&m, "sip:h1@127.0.0.7:5080", 21), 0);
	assert_int_equal(sip_proxy_dec_max_forwards(&m), 0);
	assert_int_equal(sip_msg_size(&m) > 0, 1);
	assert_int_equal(sip_msg_serialize(&m, out, sizeof(out), &n), 0);
	assert_int_equal(n, sip_msg_size(&m));
	reparse(out, n, &r);
	assert_slice(r.ruri, "sip:h1@127.0.0.7:5080");
	assert_int_equal(sip_msg_via(&r, 0, &v), 0);
	assert_slice(v.branch, br);
	assert_int_equal(sip_msg_via(&r, 1, &v), 0);
	assert_slice(v.branch, "z9hG4bKa1");
	assert_int_equal(sip_msg_via(&r, 2, &v), 0);
	assert_slice(v.branch, "z9hG4bKa0");
	assert_int_equal(sip_msg_max_forwards(&r, &mf), 0);
	assert_int_equal(mf, 69);
	i = sip_msg_hdr_find(&r, SIP_HDR_RECORD_ROUTE, 0);
	assert_slice(r.hdrs[i].value, "<sip:127.0.0.5:5070;lr>");
	i = sip_msg_hdr_find_name(&r, "x-keep", 0);
	assert_slice(r.hdrs[i].value, "folded\r\n value");
	assert_slice(r.body, "v=0\n");
	/* Back at us with the Request-URI we sent: a spiral, not a loop
	 * (the URI changed). Forwarded again unchanged and back once more: a
	 * loop (16.3 step 4). */
	{
		struct sip_proxy_self self = { "127.0.0.5", 5070, NULL };
		struct sip_msg r2;
		char out2[2048];
		size_t n2;
		const char *why;
		assert_int_equal(sip_proxy_check_request(&r, &self, &why), 0);
		assert_int_equal(sip_proxy_branch(&r, br, sizeof(br)), 0);
		snprintf(via, sizeof(via),
			 "SIP/2.0/UDP 127.0.0.5:5070;branch=%s", br);
		assert_int_equal(sip_msg_hdr_insert(&r, 0, SIP_HDR_VIA, NULL,
						    via, strlen(via)), 0);
		assert_int_equal(sip_msg_serialize(&r, out2, sizeof(out2),
						   &n2), 0);
		reparse(out2, n2, &r2);
		assert_int_equal(sip_proxy_check_request(&r2, &self, &why), 482);
		self.port = 5071;	/* someone else's Via: no loop */
		assert_int_equal(sip_proxy_check_request(&r2, &self, &why), 0);
		sip_msg_release(&r);
	}
	sip_msg_release(&m);
}

static void t_headers_and_body(void **st)
{
	struct sip_msg m, r;
	struct sip_perr e;
	char out[2048];
	size_t n;
	int i;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, req, sizeof(req) - 1, 0, &e), 0);
	/* strip the top Via value, leaving the second in the same line */
	assert_int_equal(sip_msg_hdr_del_first_value(&m, 0), 0);
	assert_int_equal(sip_msg_hdr_count(&m, SIP_HDR_VIA), 1);
	i = sip_msg_hdr_find(&m, SIP_HDR_ROUTE, 0);
	assert_int_equal(sip_msg_hdr_del_first_value(&m, (unsigned)i), 0);
	assert_int_equal(sip_msg_hdr_find(&m, SIP_HDR_ROUTE, 0), -1);
	i = sip_msg_hdr_find(&m, SIP_HDR_CONTENT_TYPE, 0);
	assert_int_equal(sip_msg_hdr_set(&m, (unsigned)i, "text/plain", 10), 0);
	assert_int_equal(sip_msg_hdr_add(&m, SIP_HDR_P_ASSERTED_IDENTITY,
					 "<sip:100-1101-1201-1@dpn.test>"), 0);
	assert_int_equal(sip_msg_hdr_insert(&m, m.nhdrs, SIP_HDR_OTHER,
					    "X-New", "1", 1), 0);
	assert_int_equal(sip_msg_set_body(&m, "hello, world", 12), 0);
	assert_int_equal(sip_msg_serialize(&m, out, sizeof(out), &n), 0);
	reparse(out, n, &r);
	assert_int_equal(sip_msg_hdr_count(&r, SIP_HDR_VIA), 1);
	i = sip_msg_hdr_find(&r, SIP_HDR_CONTENT_LENGTH, 0);
	assert_slice(r.hdrs[i].value, "12");
	assert_slice(r.body, "hello, world");
	i = sip_msg_hdr_find(&r, SIP_HDR_CONTENT_TYPE, 0);
	assert_slice(r.hdrs[i].value, "text/plain");
	assert_true(sip_msg_hdr_find(&r, SIP_HDR_P_ASSERTED_IDENTITY, 0) >= 0);
	assert_true(sip_msg_hdr_find_name(&r, "X-New", 0) >= 0);
	/* too small a buffer: ENOSPC, nothing claimed written */
	assert_int_equal(sip_msg_serialize(&m, out, n - 1, &n), ENOSPC);
	/* bad edits */
	assert_int_equal(sip_msg_hdr_del(&m, 500), EINVAL);
	assert_int_equal(sip_msg_hdr_set(&m, 500, "x", 1), EINVAL);
	assert_int_equal(sip_msg_set_ruri(&m, "sip:a b", 7), EINVAL);
	assert_int_equal(sip_msg_hdr_insert(&m, 500, SIP_HDR_VIA, NULL, "x", 1),
			 EINVAL);
	while (m.nhdrs < SIP_MAX_HDRS)
		assert_int_equal(sip_msg_hdr_add(&m, SIP_HDR_SUBJECT, "s"), 0);
	assert_int_equal(sip_msg_hdr_add(&m, SIP_HDR_SUBJECT, "s"), E2BIG);
	sip_msg_release(&m);
}

static void t_no_content_length(void **st)
{
	static const char s[] = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
		"\r\nbody!";
	struct sip_msg m, r, *d;
	struct sip_perr e;
	char out[512];
	size_t n;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, s, sizeof(s) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_serialize(&m, out, sizeof(out), &n), 0);
	reparse(out, n, &r);
	assert_slice(r.body, "body!");
	assert_int_equal(sip_msg_dup(&m, &d), 0);
	assert_slice(d->body, "body!");
	assert_slice(d->ruri, "sip:a@b");
	sip_msg_free(d);
}

/* A copy holds its own headers and SIP_DUP_SPARE_HDRS more (and a slot
 * for a Content-Length, used or not): edits up to that work and serialise like the original, one more is E2BIG and
 * changes nothing; a copy of a copy does the same. */
static void t_dup_room(void **st)
{
	static const char s[] = "INVITE sip:a@b SIP/2.0\r\n"
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n\r\n";
	struct sip_msg m, *d, *d2;
	struct sip_perr e;
	char a[4096], b[4096];
	size_t an, bn;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, s, sizeof(s) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_dup(&m, &d), 0);
	for (unsigned i = 0; i < SIP_DUP_SPARE_HDRS + 1; i++) {
		assert_int_equal(sip_msg_hdr_add(&m, SIP_HDR_SUBJECT, "s"), 0);
		assert_int_equal(sip_msg_hdr_add(d, SIP_HDR_SUBJECT, "s"), 0);
	}
	assert_int_equal(sip_msg_hdr_add(d, SIP_HDR_SUBJECT, "s"), E2BIG);
	assert_int_equal(sip_msg_serialize(&m, a, sizeof(a), &an), 0);
	assert_int_equal(sip_msg_serialize(d, b, sizeof(b), &bn), 0);
	assert_int_equal(an, bn);
	assert_memory_equal(a, b, an);
	assert_int_equal(sip_msg_dup(d, &d2), 0);
	assert_int_equal(d2->nhdrs, d->nhdrs);
	for (unsigned i = 0; i < SIP_DUP_SPARE_HDRS + 1; i++)
		assert_int_equal(sip_msg_hdr_add(d2, SIP_HDR_SUBJECT, "s"), 0);
	assert_int_equal(sip_msg_hdr_add(d2, SIP_HDR_SUBJECT, "s"), E2BIG);
	sip_msg_free(d2);
	sip_msg_free(d);
	sip_msg_release(&m);
}

/* sip_msg_tag keeps From's and To's tags in the message: an edit of the
 * header, a header removed, a copy or a new parse must not see the old
 * one (a stale tag would match the wrong dialog). */
static void t_tag_memo(void **st)
{
	static const char bye[] = "BYE sip:a@h SIP/2.0\r\n"
		"Via: SIP/2.0/UDP h;branch=z9hG4bKq\r\nFrom: <sip:b@h>;tag=9\r\n"
		"To: <sip:a@h>;tag=89\r\nCall-ID: q\r\nCSeq: 1 BYE\r\n"
		"Max-Forwards: 70\r\n\r\n";
	char buf[sizeof(bye)];
	struct sip_msg m, *d;
	struct sip_perr e;
	struct sip_str t;
	int i;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, req, sizeof(req) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_FROM, &t), 0);
	assert_slice(t, "77");
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_TO, &t), 0);
	assert_int_equal(t.len, 0);
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_TO, &t), 0);	/* memo */
	assert_int_equal(t.len, 0);
	i = sip_msg_hdr_find(&m, SIP_HDR_TO, 0);
	assert_int_equal(sip_msg_hdr_set(&m, (unsigned)i,
					 "<sip:x@dpn.test>;tag=b2", 23), 0);
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_TO, &t), 0);
	assert_slice(t, "b2");
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_FROM, &t), 0);
	assert_slice(t, "77");
	assert_int_equal(sip_msg_dup(&m, &d), 0);
	assert_int_equal(sip_msg_tag(d, SIP_HDR_TO, &t), 0);
	assert_slice(t, "b2");
	assert_true(t.s >= (const char *)d);	/* the copy's own bytes */
	i = sip_msg_hdr_find(d, SIP_HDR_FROM, 0);
	assert_int_equal(sip_msg_hdr_set(d, (unsigned)i, "<sip:y@h>;tag=c3",
					 16), 0);
	assert_int_equal(sip_msg_tag(d, SIP_HDR_FROM, &t), 0);
	assert_slice(t, "c3");
	assert_int_equal(sip_msg_hdr_del(d, (unsigned)i), 0);
	assert_int_equal(sip_msg_tag(d, SIP_HDR_FROM, &t), ENOENT);
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_FROM, &t), 0);
	assert_slice(t, "77");
	sip_msg_free(d);
	sip_msg_release(&m);
	/* the same buffer, new text, parsed again: tags of the new text */
	memcpy(buf, bye, sizeof(bye));
	assert_int_equal(sip_msg_parse(&m, buf, sizeof(bye) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_TO, &t), 0);
	assert_slice(t, "89");
	sip_msg_release(&m);
	/* To's value where it was, as long, its tag elsewhere */
	memcpy(strstr(buf, "<sip:a@h>;tag=89"), "<sip:a@hq>;tag=8", 16);
	assert_int_equal(sip_msg_parse(&m, buf, sizeof(bye) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_TO, &t), 0);
	assert_slice(t, "8");
	assert_int_equal(sip_msg_tag(&m, SIP_HDR_FROM, &t), 0);
	assert_slice(t, "9");
	sip_msg_release(&m);
}

static void assert_same_str(struct sip_str a, struct sip_str b)
{
	assert_int_equal(a.len, b.len);
	if (a.len)
		assert_memory_equal(a.s, b.s, a.len);
}

/* sip_msg_dup re-points its copy instead of re-parsing it: the copy must
 * look exactly like a parse of the serialised message, edited or not,
 * with or without Content-Length, request or response. */
static void assert_dup_is_parse(const struct sip_msg *m)
{
	static char buf[8192];
	struct sip_msg *d, p;
	struct sip_perr e;
	size_t n;

	assert_int_equal(sip_msg_serialize(m, buf, sizeof(buf), &n), 0);
	assert_int_equal(sip_msg_parse(&p, buf, n, SIP_PARSE_STREAM, &e), 0);
	{	/* fill the parse memos: the copy must carry them, moved */
		struct sip_via v;
		struct sip_cseq c;
		struct sip_uri u;
		sip_msg_via(m, 0, &v);
		sip_msg_cseq(m, &c);
		sip_msg_ruri(m, &u);
	}
	assert_int_equal(sip_msg_dup(m, &d), 0);
	{
		struct sip_via v1, v2;
		struct sip_cseq c1, c2;
		struct sip_uri u1, u2;
		assert_int_equal(sip_msg_via(d, 0, &v1), sip_msg_via(&p, 0, &v2));
		assert_same_str(v1.host, v2.host);
		assert_same_str(v1.branch, v2.branch);
		assert_same_str(v1.params, v2.params);
		assert_true(v1.host.s >= d->buf.s &&
			    v1.host.s < d->buf.s + d->buf.len);
		assert_int_equal(sip_msg_cseq(d, &c1), sip_msg_cseq(&p, &c2));
		assert_same_str(c1.method_str, c2.method_str);
		if (p.is_request) {
			assert_int_equal(sip_msg_ruri(d, &u1), 0);
			assert_int_equal(sip_msg_ruri(&p, &u2), 0);
			assert_same_str(u1.host, u2.host);
			assert_same_str(u1.user, u2.user);
			assert_true(u1.host.s >= d->buf.s &&
				    u1.host.s < d->buf.s + d->buf.len);
		}
	}
	assert_int_equal(d->buf.len, n);
	assert_memory_equal(d->buf.s, buf, n);
	assert_same_str(d->start_line, p.start_line);
	assert_same_str(d->method_str, p.method_str);
	assert_same_str(d->ruri, p.ruri);
	assert_same_str(d->reason, p.reason);
	assert_int_equal(d->status, p.status);
	assert_int_equal(d->method, p.method);
	assert_int_equal(d->nhdrs, p.nhdrs);
	for (unsigned i = 0; i < p.nhdrs; i++) {
		assert_int_equal(d->hdrs[i].id, p.hdrs[i].id);
		assert_same_str(d->hdrs[i].name, p.hdrs[i].name);
		assert_same_str(d->hdrs[i].value, p.hdrs[i].value);
		assert_same_str(d->hdrs[i].raw, p.hdrs[i].raw);
	}
	assert_same_str(d->body, p.body);
	sip_msg_free(d);
}

static void t_dup_equals_parse(void **st)
{
	static const char resp[] = "SIP/2.0 180 Ringing\r\n"
		"Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b\r\n"
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n"
		"Call-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
	struct sip_msg m;
	struct sip_perr e;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, req, sizeof(req) - 1, 0, &e), 0);
	assert_dup_is_parse(&m);
	assert_int_equal(sip_msg_set_ruri(&m, "sip:new@x", 9), 0);
	assert_int_equal(sip_msg_hdr_insert(&m, 0, SIP_HDR_VIA, NULL,
					    "SIP/2.0/UDP p;branch=z9hG4bKp",
					    29), 0);
	assert_int_equal(sip_msg_hdr_set(&m, 3, "x", 1), 0);
	assert_int_equal(sip_msg_set_body(&m, "hello", 5), 0);
	assert_dup_is_parse(&m);
	sip_msg_release(&m);
	assert_int_equal(sip_msg_parse(&m, resp, sizeof(resp) - 1, 0, &e), 0);
	assert_dup_is_parse(&m);	/* no Content-Length: one is added */
	assert_int_equal(sip_msg_hdr_del_first_value(&m, 0), 0);
	assert_dup_is_parse(&m);
	sip_msg_release(&m);
}

static void t_builders(void **st)
{
	static const char resp486[] = "SIP/2.0 486 Busy Here\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKa1\r\n"
		"To: <sip:100-1101-1201@dpn.test>;tag=u1\r\n"
		"From: <sip:alice@127.0.0.1>;tag=77\r\nCall-ID: e1@127.0.0.1\r\n"
		"CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
	struct sip_msg m, r, a;
	struct sip_perr e;
	struct sip_cseq cs;
	struct sip_addr to;
	char out[1024];
	size_t n;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, req, sizeof(req) - 1, 0, &e), 0);
	assert_int_equal(sip_msg_parse(&r, resp486, sizeof(resp486) - 1, 0, &e), 0);
	assert_int_equal(sip_ack_cancel_write(&m, SIP_ACK, &r, out, sizeof(out),
					      &n), 0);
	reparse(out, n, &a);
	assert_int_equal(sip_msg_check(&a, &e), 0);
	assert_int_equal(a.method, SIP_ACK);
	assert_slice(a.ruri, "sip:100-1101-1201@dpn.test");
	assert_int_equal(sip_msg_hdr_count(&a, SIP_HDR_VIA), 1);
	assert_int_equal(sip_msg_cseq(&a, &cs), 0);
	assert_int_equal(cs.num, 2);
	assert_int_equal(sip_msg_to(&a, &to), 0);
	assert_slice(to.tag, "u1");
	assert_true(sip_msg_hdr_find(&a, SIP_HDR_ROUTE, 0) >= 0);
	assert_int_equal(sip_ack_cancel_write(&m, SIP_CANCEL, NULL, out,
					      sizeof(out), &n), 0);
	reparse(out, n, &a);
	assert_int_equal(a.method, SIP_CANCEL);
	assert_int_equal(sip_msg_to(&a, &to), 0);
	assert_false(to.has_tag);
	assert_int_equal(sip_ack_cancel_write(&m, SIP_BYE, NULL, out,
					      sizeof(out), &n), EINVAL);
	/* from a stem: the same text, `extra` before Content-Length */
	{
		struct sip_ack_stem s;
		char text[1024], want[1024];
		size_t wn;

		assert_int_equal(sip_ack_stem_fill(&m, text, 8, &s), ENOSPC);
		assert_int_equal(sip_ack_stem_fill(&m, text, sizeof(text), &s), 0);
		assert_int_equal(sip_ack_cancel_write(&m, SIP_ACK, &r, want,
						      sizeof(want), &wn), 0);
		assert_int_equal(sip_ack_stem_write(&s, SIP_ACK, &r, NULL, out,
						    sizeof(out), &n), 0);
		assert_int_equal(n, wn);
		assert_memory_equal(out, want, n);
		assert_int_equal(sip_ack_stem_write(&s, SIP_ACK, NULL, NULL, out,
						    sizeof(out), &n), EINVAL);
		assert_int_equal(sip_ack_stem_write(&s, SIP_BYE, NULL, NULL, out,
						    sizeof(out), &n), EINVAL);
		assert_int_equal(sip_ack_stem_write(&s, SIP_CANCEL, NULL,
						    "Reason: x\r\n", out, 40, &n),
				 ENOSPC);
		assert_int_equal(sip_ack_stem_write(&s, SIP_CANCEL, NULL,
						    "Reason: x\r\n", out,
						    sizeof(out), &n), 0);
		assert_int_equal(n, sizeof("Reason: x\r\n") - 1 +
				 (sip_ack_cancel_write(&m, SIP_CANCEL, NULL, want,
						       sizeof(want), &wn), wn));
		assert_memory_equal(out, want, wn - 21);
		assert_memory_equal(out + n - 32, "Reason: x\r\nContent-Length: 0\r\n\r\n", 32);
	}
	/* a response with a To tag added */
	assert_int_equal(sip_response_write(&m, 180, NULL, "srv9", NULL,
		(struct sip_str){ 0 }, out, sizeof(out), &n), 0);
	reparse(out, n, &a);
	assert_int_equal(a.status, 180);
	assert_slice(a.reason, "Ringing");
	assert_int_equal(sip_msg_to(&a, &to), 0);
	assert_slice(to.tag, "srv9");
	assert_int_equal(sip_msg_hdr_count(&a, SIP_HDR_VIA), 1);
	assert_int_equal(sip_msg_via(&a, 1, &(struct sip_via){ 0 }), 0);
}

static void t_request_write(void **st)
{
	struct sip_request_spec s = {
		.method = "REGISTER", .ruri = "sip:127.0.0.1",
		.via = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKr1",
		.from = "<sip:gw@127.0.0.1>;tag=a", .to = "<sip:gw@127.0.0.1>",
		.call_id = "r1", .contact = "<sip:gw@127.0.0.1:5060>",
		.cseq = 7, .extra = "Expires: 300\r\n",
	};
	struct sip_msg m;
	struct sip_perr e;
	struct sip_cseq cs;
	char out[512];
	size_t n;
	(void)st;

	assert_int_equal(sip_request_write(&s, out, sizeof(out), &n), 0);
	reparse(out, n, &m);
	assert_int_equal(sip_msg_check(&m, &e), 0);
	assert_int_equal(m.method, SIP_REGISTER);
	assert_int_equal(sip_msg_cseq(&m, &cs), 0);
	assert_int_equal(cs.num, 7);
	assert_true(sip_msg_hdr_find(&m, SIP_HDR_EXPIRES, 0) >= 0);
	s.from = NULL;
	assert_int_equal(sip_request_write(&s, out, sizeof(out), &n), EINVAL);
}

static const char sdp[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 10.0.0.1\r\n"
	"s=-\r\n"
	"c=IN IP4 10.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 49170 RTP/AVP 0 8\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"m=video 51372/2 RTP/AVP 31\r\n"
	"c=IN IP4 10.0.0.2\r\n";

static void t_sdp(void **st)
{
	struct sip_sdp s;
	char out[512];
	size_t n;
	unsigned ports[2] = { 30000, 0 };
	(void)st;

	assert_int_equal(sip_sdp_parse(SIP_STR(sdp), &s), 0);
	assert_int_equal(s.nmedia, 2);
	assert_slice(s.conn.addr, "10.0.0.1");
	assert_slice(s.media[0].media, "audio");
	assert_int_equal(s.media[0].port, 49170);
	assert_slice(s.media[0].fmts, "0 8");
	assert_int_equal(s.media[1].port, 51372);
	assert_int_equal(s.media[1].nports, 2);
	assert_slice(sip_sdp_media_addr(&s, 0), "10.0.0.1");
	assert_slice(sip_sdp_media_addr(&s, 1), "10.0.0.2");
	assert_int_equal(sip_sdp_rewrite(SIP_STR(sdp), "127.0.0.5", ports, 2,
					 out, sizeof(out), &n), 0);
	assert_int_equal(sip_sdp_parse((struct sip_str){ out, n }, &s), 0);
	assert_slice(sip_sdp_media_addr(&s, 0), "127.0.0.5");
	assert_slice(sip_sdp_media_addr(&s, 1), "127.0.0.5");
	assert_int_equal(s.media[0].port, 30000);
	assert_int_equal(s.media[1].port, 51372);
	assert_int_equal(s.media[1].nports, 2);
	assert_non_null(strstr(out, "o=- 1 1 IN IP4 10.0.0.1\r\n"));
	assert_non_null(strstr(out, "a=rtpmap:0 PCMU/8000\r\n"));
	assert_int_equal(sip_sdp_rewrite(SIP_STR(sdp), "::1", NULL, 0, out,
					 sizeof(out), &n), 0);
	assert_non_null(strstr(out, "c=IN IP6 ::1\r\n"));
	assert_int_equal(sip_sdp_rewrite(SIP_STR(sdp), "1.2.3.4", NULL, 0, out,
					 10, &n), ENOSPC);
	/* bad bodies */
	assert_int_equal(sip_sdp_parse(SIP_STR("x"), &s), EBADMSG);
	assert_int_equal(sip_sdp_parse(SIP_STR(""), &s), EBADMSG);
	assert_int_equal(sip_sdp_parse(SIP_STR("v=0\r\nm=audio x RTP/AVP 0\r\n"),
					&s), EBADMSG);
	assert_int_equal(sip_sdp_parse(SIP_STR("v=0\r\nm=audio 70000 RTP/AVP 0\r\n"),
					&s), EBADMSG);
	assert_int_equal(sip_sdp_parse(SIP_STR("v=0\r\nc=IN IP4\r\n"), &s),
			 EBADMSG);
	assert_int_equal(sip_sdp_parse(SIP_STR("s=-\r\nv=0\r\n"), &s), EBADMSG);
	{
		char many[1024];
		size_t k = (size_t)sprintf(many, "v=0\r\n");
		for (int i = 0; i <= SIP_SDP_MAX_MEDIA; i++)
			k += (size_t)sprintf(many + k, "m=audio %d RTP/AVP 0\r\n",
					     1000 + i);
		assert_int_equal(sip_sdp_parse((struct sip_str){ many, k }, &s),
				 E2BIG);
	}
}

static void t_sdp_rfc4475(void **st)
{
	size_t len;
	char *buf = rfc4475_load("sdp01", &len);
	struct sip_msg m;
	struct sip_perr e;
	struct sip_sdp s;
	(void)st;

	assert_int_equal(sip_msg_parse(&m, buf, len, 0, &e), 0);
	assert_int_equal(sip_sdp_parse(m.body, &s), 0);
	assert_int_equal(s.nmedia, 2);
	assert_slice(s.conn.addr, "192.0.2.5");
	assert_int_equal(s.media[1].port, 3227);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_proxy_rewrite),
		cmocka_unit_test(t_headers_and_body),
		cmocka_unit_test(t_no_content_length),
		cmocka_unit_test(t_builders),
		cmocka_unit_test(t_dup_equals_parse),
		cmocka_unit_test(t_dup_room),
		cmocka_unit_test(t_tag_memo),
		cmocka_unit_test(t_request_write),
		cmocka_unit_test(t_sdp),
		cmocka_unit_test(t_sdp_rfc4475),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
