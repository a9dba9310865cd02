/* tests/unit/test_sip_multipart.c — MIME multipart bodies (lib/sip/
 * multipart.h): a SIP-I body (SDP + binary ISUP) split and its SDP
 * replaced with every other byte kept; preamble, epilogue, quoted
 * boundaries, padding, parts without headers; malformed bodies (each
 * refused), the part bound, every truncation, garbage and mutations
 * (exact-size buffers, so ASan sees any overread); the SDP of a message
 * and its replacement with Content-Length right. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "sip/msg.h"
#include "sip/multipart.h"
#include "sip_testutil.h"

#define SDP_A "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n" \
	      "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
#define SDP_B "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n" \
	      "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n"

static const char ctype[] = "multipart/mixed;boundary=unique-boundary-1";

/* Two parts as a SIP-I trunk sends them: SDP, then ISUP (binary, with
 * NUL bytes). */
static const char sipi[] =
	"--unique-boundary-1\r\n"
	"Content-Type: application/sdp\r\n"
	"\r\n"
	SDP_A
	"\r\n--unique-boundary-1\r\n"
	"Content-Type: application/ISUP;version=itu-t92+\r\n"
	"Content-Disposition: signal;handling=required\r\n"
	"\r\n"
	"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21"
	"\r\n--unique-boundary-1--\r\n";

static struct sip_str S(const char *s, size_t n)
{
	return (struct sip_str){ s, n };
}

static struct sip_str L(const char *s)
{
	return (struct sip_str){ s, strlen(s) };
}

/* A malloc'ed copy of exactly n bytes (no terminator to read past). */
static char *exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static void t_sipi(void **st)
{
	struct sip_mp mp;
	char out[1024];
	size_t n, pre;
	(void)st;

	assert_int_equal(sip_mp_parse(L(ctype), S(sipi, sizeof(sipi) - 1),
				      &mp, NULL), 0);
	assert_int_equal(mp.n, 2);
	assert_slice(mp.boundary, "unique-boundary-1");
	assert_slice(mp.part[0].type, "application/sdp");
	assert_slice(mp.part[0].content, SDP_A);
	assert_slice(mp.part[1].type, "application/ISUP");
	assert_int_equal(mp.part[1].content.len, 15);
	assert_memory_equal(mp.part[1].content.s, "\x01\x00\x49", 3);
	assert_int_equal(sip_mp_replace(S(sipi, sizeof(sipi) - 1), &mp, 0,
					L(SDP_B), out, sizeof(out), &n), 0);
	pre = (size_t)(mp.part[0].content.s - sipi);
	assert_int_equal(n, sizeof(sipi) - 1 - strlen(SDP_A) + strlen(SDP_B));
	assert_memory_equal(out, sipi, pre);
	assert_memory_equal(out + pre, SDP_B, strlen(SDP_B));
	assert_memory_equal(out + pre + strlen(SDP_B), sipi + pre +
			    strlen(SDP_A), sizeof(sipi) - 1 - pre - strlen(SDP_A));
	assert_int_equal(sip_mp_parse(L(ctype), S(out, n), &mp, NULL), 0);
	assert_slice(mp.part[0].content, SDP_B);
	/* too small, no such part, a replacement holding the delimiter, a
	 * body mp was not parsed from */
	assert_int_equal(sip_mp_replace(S(sipi, sizeof(sipi) - 1), &mp, 0,
					L(SDP_B), out, sizeof(out), &n), EINVAL);
	assert_int_equal(sip_mp_parse(L(ctype), S(sipi, sizeof(sipi) - 1),
				      &mp, NULL), 0);
	assert_int_equal(sip_mp_replace(S(sipi, sizeof(sipi) - 1), &mp, 0,
					L(SDP_B), out, n - 1, &n), ENOSPC);
	assert_int_equal(sip_mp_replace(S(sipi, sizeof(sipi) - 1), &mp, 2,
					L(SDP_B), out, sizeof(out), &n), EINVAL);
	assert_int_equal(sip_mp_replace(S(sipi, sizeof(sipi) - 1), &mp, 0,
					L("v=0\r\n--unique-boundary-1--\r\n"),
					out, sizeof(out), &n), EINVAL);
}

static void t_forms(void **st)
{
	static const char body[] =
		"preamble, ignored\r\n"
		"--a b'c  \t\r\n"		/* transport padding */
		"content-type:  Application/SDP \r\n"
		"X-Folded: one\r\n two\r\n"
		"\r\n"
		"v=0\r\n"
		"\r\n--a b'c\r\n"
		"\r\n"				/* no headers: text/plain */
		"plain\r\n"
		"\r\n--a b'c\r\n"
		"Content-Type: text/plain\r\n"	/* headers only */
		"\r\n--a b'c--  epilogue\r\n--a b'c\r\n";
	struct sip_mp mp;
	(void)st;

	assert_int_equal(sip_mp_parse(L("Multipart/Mixed ; boundary=\"a b'c\""),
				      L(body), &mp, NULL), 0);
	assert_int_equal(mp.n, 3);
	assert_slice(mp.boundary, "a b'c");
	assert_slice(mp.part[0].type, "Application/SDP");
	assert_slice(mp.part[0].content, "v=0\r\n");
	assert_int_equal(mp.part[1].type.len, 0);
	assert_int_equal(mp.part[1].hdrs.len, 0);
	assert_slice(mp.part[1].content, "plain\r\n");
	assert_slice(mp.part[2].type, "text/plain");
	assert_int_equal(mp.part[2].content.len, 0);
	assert_int_equal(sip_mp_is(L(" multipart/related;type=x")), 1);
	assert_int_equal(sip_mp_is(L("multipart/")), 0);
	assert_int_equal(sip_mp_is(L("application/sdp")), 0);
	assert_slice(sip_mime_type(L(" application/sdp ;x=1")),
		     "application/sdp");
}

struct bad_case {
	const char *ctype, *body;
	int rc;
};

static void t_malformed(void **st)
{
	static const struct bad_case cases[] = {
		{ "multipart/mixed", "--b\r\n\r\nx\r\n--b--", EBADMSG },
		{ "multipart/mixed;boundary=", "--\r\n\r\nx\r\n----", EBADMSG },
		{ "multipart/mixed;boundary=\"\"", "--\r\n\r\n----", EBADMSG },
		{ "multipart/mixed;boundary=a\\b", "--a\\b\r\n\r\n--a\\b--",
		  EBADMSG },
		{ "multipart/mixed;boundary=\"b \"", "--b \r\n\r\n--b --",
		  EBADMSG },
		{ "multipart/mixed;boundary="
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "x", EBADMSG },	/* 71 characters */
		{ ctype, "no delimiter at all", EBADMSG },
		{ ctype, "--unique-boundary-1\r\n\r\nv=0\r\n", EBADMSG },
		{ ctype, "--unique-boundary-1--\r\n", EBADMSG },	/* no part */
		{ ctype, "--unique-boundary-1\r\nContent-Type: a/b\r\nv=0\r\n"
		  "--unique-boundary-1--", EBADMSG },	/* no blank line */
		{ ctype, "--unique-boundary-1X\r\n\r\nv\r\n--unique-boundary-1--",
		  EBADMSG },
		{ ctype, "--unique-boundary-1\r\n\r\nv\r\n--unique-boundary-1X"
		  "\r\n--unique-boundary-1--", EBADMSG },	/* prefix line */
		{ ctype, "--unique-boundary-1\r\nno colon here\r\n\r\nv\r\n"
		  "--unique-boundary-1--", EBADMSG },
		{ ctype, "--unique-boundary-1\r\n folded first\r\n\r\nv\r\n"
		  "--unique-boundary-1--", EBADMSG },
		{ ctype, "--unique-boundary-1\r\nContent-Type: a/b\r\n"
		  "Content-Type: c/d\r\n\r\nv\r\n--unique-boundary-1--", EBADMSG },
		{ ctype, "--unique-boundary-1\r\nContent-Type: ;x\r\n\r\nv\r\n"
		  "--unique-boundary-1--", EBADMSG },
		{ ctype, "--unique-boundary-1\n\nv=0\n--unique-boundary-1--\n",
		  EBADMSG },	/* LF only */
	};
	struct sip_mp mp;
	const char *why;
	(void)st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *b = exact(cases[i].body, strlen(cases[i].body));

		why = NULL;
		if (sip_mp_parse(L(cases[i].ctype), S(b, strlen(cases[i].body)),
				 &mp, &why) != cases[i].rc)
			fail_msg("case %zu: %s", i, cases[i].body);
		assert_non_null(why);
		free(b);
	}
}

/* n parts of "x" under boundary b. */
static size_t parts_body(char *buf, size_t cap, unsigned n)
{
	size_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "--b\r\n\r\nx\r\n");
	len += (size_t)snprintf(buf + len, cap - len, "--b--");
	return len;
}

static void t_part_bound(void **st)
{
	char buf[1024];
	struct sip_mp mp;
	size_t n;
	(void)st;

	n = parts_body(buf, sizeof(buf), SIP_MP_PARTS_MAX);
	assert_int_equal(sip_mp_parse(L("multipart/mixed;boundary=b"),
				      S(buf, n), &mp, NULL), 0);
	assert_int_equal(mp.n, SIP_MP_PARTS_MAX);
	n = parts_body(buf, sizeof(buf), SIP_MP_PARTS_MAX + 1);
	assert_int_equal(sip_mp_parse(L("multipart/mixed;boundary=b"),
				      S(buf, n), &mp, NULL), E2BIG);
}

/* Every prefix: no overread, refused until the closing delimiter is in. */
static void t_truncated(void **st)
{
	size_t full = sizeof(sipi) - 1;
	struct sip_mp mp;
	(void)st;

	for (size_t n = 0; n <= full; n++) {
		char *b = exact(sipi, n);
		int rc = sip_mp_parse(L(ctype), S(b, n), &mp, NULL);

		assert_int_equal(rc, n >= full - 2 ? 0 : EBADMSG);
		free(b);
	}
}

static void check_inside(const struct sip_mp *mp, const char *b, size_t n)
{
	for (unsigned i = 0; i < mp->n; i++) {
		const struct sip_str *c = &mp->part[i].content;

		assert_true(c->s >= b && c->s + c->len <= b + n);
		assert_true(mp->part[i].hdrs.s >= b &&
			    mp->part[i].hdrs.s + mp->part[i].hdrs.len <= b + n);
	}
}

/* Mutations of the SIP-I body and random bytes: 0, EBADMSG or E2BIG,
 * never a slice outside the body. */
static void t_garbage(void **st)
{
	size_t full = sizeof(sipi) - 1;
	struct sip_mp mp;
	uint32_t r = 12345;
	(void)st;

	for (int k = 0; k < 20000; k++) {
		char *b = exact(sipi, full);
		size_t n = full;
		int rc;

		for (int j = 0; j < 1 + k % 4; j++) {
			r = r * 1103515245u + 12345u;
			b[(r >> 8) % full] = k % 3 ? (char)(r >> 16) :
					     "\r\n-"[(r >> 20) % 3];
		}
		if (k % 5 == 0) {
			r = r * 1103515245u + 12345u;
			n = (r >> 8) % full;
		}
		rc = sip_mp_parse(L(ctype), S(b, n), &mp, NULL);
		assert_true(rc == 0 || rc == EBADMSG || rc == E2BIG);
		if (rc == 0)
			check_inside(&mp, b, n);
		free(b);
	}
}

/* A message with Content-Type ct (NULL: none) and body. */
static void msg(struct sip_msg *m, char *buf, size_t cap, const char *ct,
		const char *body, size_t blen)
{
	struct sip_perr e;
	int n = snprintf(buf, cap, "INVITE sip:a@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
		"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\n"
		"Call-ID: mp1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
		"%s%s%sContent-Length: %zu\r\n\r\n", ct ? "Content-Type: " : "",
		ct ? ct : "", ct ? "\r\n" : "", blen);

	assert_true(n > 0 && (size_t)n + blen <= cap);
	memcpy(buf + n, body, blen);
	if (sip_msg_parse(m, buf, (size_t)n + blen, 0, &e))
		fail_msg("parse: %s", e.reason);
}

static void msgs(struct sip_msg *m, char *buf, size_t cap, const char *ct,
		 const char *body)
{
	msg(m, buf, cap, ct, body, strlen(body));
}

static void t_msg_sdp(void **st)
{
	char buf[2048], out[2048];
	struct sip_msg m, r;
	struct sip_str sdp;
	struct sip_perr e;
	struct sip_mp mp;
	const char *why;
	size_t n;
	(void)st;

	msg(&m, buf, sizeof(buf), "application/sdp", SDP_A, strlen(SDP_A));
	assert_int_equal(sip_msg_sdp(&m, &sdp, NULL), 0);
	assert_slice(sdp, SDP_A);
	assert_int_equal(sip_msg_set_sdp(&m, SDP_B, strlen(SDP_B)), 0);
	assert_slice(m.body, SDP_B);
	sip_msg_release(&m);

	msg(&m, buf, sizeof(buf), ctype, sipi, sizeof(sipi) - 1);
	assert_int_equal(sip_msg_sdp(&m, &sdp, NULL), 0);
	assert_slice(sdp, SDP_A);
	assert_int_equal(sip_msg_set_sdp(&m, "v=0\r\n--unique-boundary-1\r\n",
					 26), EINVAL);
	assert_int_equal(sip_msg_set_sdp(&m, SDP_B, strlen(SDP_B)), 0);
	assert_int_equal(sip_msg_serialize(&m, out, sizeof(out), &n), 0);
	assert_int_equal(sip_msg_parse(&r, out, n, SIP_PARSE_STREAM, &e), 0);
	assert_int_equal(r.body.len, sizeof(sipi) - 1 - strlen(SDP_A) +
			 strlen(SDP_B));	/* Content-Length right */
	assert_int_equal(sip_mp_parse(L(ctype), r.body, &mp, NULL), 0);
	assert_slice(mp.part[0].content, SDP_B);
	assert_int_equal(mp.part[1].content.len, 15);
	assert_memory_equal(mp.part[1].content.s, sipi + sizeof(sipi) - 1 -
			    15 - 25, 15);	/* ISUP byte for byte */
	sip_msg_release(&m);

	msg(&m, buf, sizeof(buf), NULL, SDP_A, strlen(SDP_A));
	assert_int_equal(sip_msg_sdp(&m, &sdp, &why), EBADMSG);
	assert_string_equal(why, "body without Content-Type");
	msg(&m, buf, sizeof(buf), "text/plain", "hi", 2);
	assert_int_equal(sip_msg_sdp(&m, &sdp, NULL), ENOENT);
	assert_int_equal(sip_msg_set_sdp(&m, SDP_B, strlen(SDP_B)), ENOENT);
	msg(&m, buf, sizeof(buf), "application/sdp", "", 0);
	assert_int_equal(sip_msg_sdp(&m, &sdp, NULL), ENOENT);
	msgs(&m, buf, sizeof(buf), "multipart/mixed;boundary=b",
	    "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--");
	assert_int_equal(sip_msg_sdp(&m, &sdp, NULL), ENOENT);
	msgs(&m, buf, sizeof(buf), "multipart/mixed;boundary=b",
	    "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
	    "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--");
	assert_int_equal(sip_msg_sdp(&m, &sdp, &why), EBADMSG);
	assert_string_equal(why, "two SDP parts in a multipart body");
	msgs(&m, buf, sizeof(buf), "multipart/mixed;boundary=b",
	    "--b\r\nContent-Type: multipart/alternative;boundary=c\r\n\r\n"
	    "--c\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--c--\r\n"
	    "--b--");
	assert_int_equal(sip_msg_sdp(&m, &sdp, &why), EBADMSG);
	assert_string_equal(why, "nested multipart body");
	msgs(&m, buf, sizeof(buf), "multipart/mixed;boundary=b",
	    "--b\r\nContent-Type: application/sdp\r\n\r\n\r\n--b--");
	assert_int_equal(sip_msg_sdp(&m, &sdp, &why), EBADMSG);
	msg(&m, buf, sizeof(buf), "multipart/mixed;boundary=b", "garbage", 7);
	assert_int_equal(sip_msg_sdp(&m, &sdp, NULL), EBADMSG);
	assert_int_equal(sip_msg_set_sdp(&m, SDP_B, strlen(SDP_B)), EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_sipi),
		cmocka_unit_test(t_forms),
		cmocka_unit_test(t_malformed),
		cmocka_unit_test(t_part_bound),
		cmocka_unit_test(t_truncated),
		cmocka_unit_test(t_garbage),
		cmocka_unit_test(t_msg_sdp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
