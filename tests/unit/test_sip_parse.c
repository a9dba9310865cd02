/* tests/unit/test_sip_parse.c — the parser beyond RFC 4475: header edge
 * cases, URIs, TCP framing byte by byte and in random splits, keep-alives,
 * truncated, oversized and NUL-laden input, and the 400 answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "sip/msg.h"
#include "sip/hdr.h"
#include "sip/build.h"
#include "sip_testutil.h"

static const char invite[] =
	"INVITE sip:100-1101-1201-1@dpn.test;user=phone SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776asdhds;rport\r\n"
	"Max-Forwards: 70\r\n"
	"To: <sip:100-1101-1201-1@dpn.test>\r\n"
	"From: \"Alice\" <sip:alice@127.0.0.1>;tag=1928301774\r\n"
	"Call-ID: a84b4c76e66710@127.0.0.1\r\n"
	"CSeq: 314159 INVITE\r\n"
	"Contact: <sip:alice@127.0.0.1:5062>\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 132\r\n"
	"\r\n"
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=audio 49170 RTP/AVP 0\r\n"
	"a=rtpmap:0 PCMU/8000\r\n";

static int parse(const char *s, size_t n, struct sip_msg *m,
		 struct sip_perr *e)
{
	return sip_msg_parse(m, s, n, 0, e);
}

static void t_typical_invite(void **st)
{
	struct sip_msg m;
	struct sip_perr e;
	struct sip_via v;
	struct sip_uri u;
	struct sip_str p;
	(void)st;

	assert_int_equal(parse(invite, sizeof(invite) - 1, &m, &e), 0);
	assert_int_equal(sip_msg_check(&m, &e), 0);
	assert_int_equal(m.nhdrs, 9);
	assert_int_equal(m.body.len, 132);
	assert_int_equal(sip_msg_via(&m, 0, &v), 0);
	assert_true(v.has_rport);
	assert_int_equal(v.rport_val, 0);
	assert_int_equal(v.port, 5062);
	assert_int_equal(sip_uri_parse(m.ruri, &u, NULL), 0);
	assert_int_equal(u.scheme, SIP_SCHEME_SIP);
	assert_slice(u.user, "100-1101-1201-1");
	assert_true(sip_param_find(u.params, "user", &p));
	assert_slice(p, "phone");
}

static void t_compact_and_case(void **st)
{
	static const char s[] =
		"OPTIONS sip:a@b SIP/2.0\r\n"
		"v: SIP/2.0/TCP [::1]:5070;branch=z9hG4bKx;received=::1\r\n"
		"f: <sip:x@y>;tag=1\r\nt: sip:a@b\r\ni: c1\r\n"
		"CSEQ: 1 OPTIONS\r\nk: path, outbound\r\nl: 0\r\n\r\n";
	struct sip_msg m;
	struct sip_perr e;
	struct sip_via v;
	(void)st;

	assert_int_equal(parse(s, sizeof(s) - 1, &m, &e), 0);
	assert_int_equal(sip_msg_check(&m, &e), 0);
	assert_int_equal(m.hdrs[0].id, SIP_HDR_VIA);
	assert_int_equal(m.hdrs[5].id, SIP_HDR_SUPPORTED);
	assert_int_equal(sip_msg_via(&m, 0, &v), 0);
	assert_slice(v.host, "[::1]");
	assert_int_equal(v.port, 5070);
	assert_slice(v.transport, "TCP");
	assert_int_equal(sip_hdr_id_from("CONTENT-length", 14),
			 SIP_HDR_CONTENT_LENGTH);
	assert_int_equal(sip_hdr_id_from("x", 1), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_from("P-Asserted-Identity", 19),
			 SIP_HDR_P_ASSERTED_IDENTITY);
}

static void t_values_split(void **st)
{
	struct sip_str line = SIP_STR("\"a, b\" <sip:x@y;p=1,2>;q=1 , <sip:z@w>");
	struct sip_str v;
	size_t pos = 0;
	(void)st;

	assert_int_equal(sip_hdr_next_value(line, &pos, &v), 1);
	assert_slice(v, "\"a, b\" <sip:x@y;p=1,2>;q=1");
	assert_int_equal(sip_hdr_next_value(line, &pos, &v), 1);
	assert_slice(v, "<sip:z@w>");
	assert_int_equal(sip_hdr_next_value(line, &pos, &v), 0);
	pos = 0;
	assert_int_equal(sip_hdr_next_value(SIP_STR("a,,b"), &pos, &v), 1);
	assert_int_equal(sip_hdr_next_value(SIP_STR("a,,b"), &pos, &v), -1);
	pos = 0;
	assert_int_equal(sip_hdr_next_value(SIP_STR("a, "), &pos, &v), 1);
	assert_int_equal(sip_hdr_next_value(SIP_STR("a, "), &pos, &v), -1);
	pos = 0;
	assert_int_equal(sip_hdr_next_value(SIP_STR("\"open"), &pos, &v), -1);
}

static void t_uris(void **st)
{
	struct sip_uri u;
	struct sip_str p;
	(void)st;

	assert_int_equal(sip_uri_parse(SIP_STR("sips:bob:pw@[2001:db8::1]:5061;"
		"transport=tcp?subject=x&h=y"), &u, NULL), 0);
	assert_int_equal(u.scheme, SIP_SCHEME_SIPS);
	assert_slice(u.password, "pw");
	assert_slice(u.host, "[2001:db8::1]");
	assert_int_equal(u.port, 5061);
	assert_slice(u.headers, "subject=x&h=y");
	assert_true(sip_param_find(u.params, "TRANSPORT", &p));
	assert_slice(p, "tcp");
	assert_int_equal(sip_uri_parse(SIP_STR("tel:+1-201-555-0123;ext=1"),
				       &u, NULL), 0);
	assert_int_equal(u.scheme, SIP_SCHEME_TEL);
	assert_slice(u.user, "+1-201-555-0123");
	assert_int_equal(sip_uri_parse(SIP_STR("sip:127.0.0.1"), &u, NULL), 0);
	assert_false(u.has_user);
	/* bad ones */
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@b:70000"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@b:0"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a%zz@b"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a%4@b"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:@b"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@b;;x"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@b c"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@[::1"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("tel:"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR(":x"), &u, NULL), EBADMSG);
	assert_int_equal(sip_uri_parse(SIP_STR("sip:a@b?x"), &u, NULL), EBADMSG);
	/* found by the fuzzer: an empty slice (a response's Request-URI) */
	assert_int_equal(sip_uri_parse((struct sip_str){ NULL, 0 }, &u, NULL),
			 EBADMSG);
}

static void t_addr_edges(void **st)
{
	struct sip_addr a;
	const char *why;
	(void)st;

	assert_int_equal(sip_addr_parse(SIP_STR("*"), SIP_ADDR_ALLOW_STAR, &a,
					NULL), 0);
	assert_true(a.star);
	/* found by the fuzzer: parameters of a star Contact are an empty
	 * slice with no pointer */
	assert_false(sip_param_find(a.params, "expires", &a.tag));
	assert_int_equal(sip_addr_parse(SIP_STR("*"), 0, &a, &why), EBADMSG);
	assert_int_equal(sip_addr_parse(SIP_STR("<sip:a@b>;tag="), 0, &a,
					&why), EBADMSG);
	assert_int_equal(sip_addr_parse(SIP_STR("<sip:a@b"), 0, &a, &why),
			 EBADMSG);
	assert_string_equal(why, "Unterminated <URI>");
	assert_int_equal(sip_addr_parse(SIP_STR("<sip:a@b> junk"), 0, &a,
					&why), EBADMSG);
	/* found by the fuzzer: an unterminated quote after a token */
	assert_int_equal(sip_addr_parse(SIP_STR("x \"sip:a@b"), 0, &a, &why),
			 EBADMSG);
	assert_int_equal(sip_addr_parse(SIP_STR("sip:a@b;expires=60;q=0.5"),
					0, &a, NULL), 0);
	assert_int_equal(a.angle, 0);
	assert_slice(a.params, "expires=60;q=0.5");
	assert_int_equal(sip_addr_parse(SIP_STR("\"\" <tel:+123>;tag=x"), 0,
					&a, NULL), 0);
	assert_int_equal(a.uri.scheme, SIP_SCHEME_TEL);
	assert_slice(a.tag, "x");
}

static void t_via_edges(void **st)
{
	struct sip_via v;
	const char *why;
	(void)st;

	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0/UDP h;rport=5070;"
		"received=10.0.0.1;maddr=239.1.1.1;branch=z9hG4bKa"), &v, NULL), 0);
	assert_int_equal(v.rport_val, 5070);
	assert_slice(v.received, "10.0.0.1");
	assert_slice(v.maddr, "239.1.1.1");
	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0/UDP"), &v, &why), EBADMSG);
	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0 UDP h"), &v, &why), EBADMSG);
	assert_int_equal(sip_via_parse(SIP_STR("SIP/3.0/UDP h"), &v, &why), EBADMSG);
	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0/UDP h:99999"), &v, &why), EBADMSG);
	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0/UDP h;rport=x"), &v, &why), EBADMSG);
	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0/UDP h;branch="), &v, &why), EBADMSG);
	assert_int_equal(sip_via_parse(SIP_STR("SIP/2.0/UDPh"), &v, &why), EBADMSG);
}

static void t_scalars(void **st)
{
	struct sip_cseq c;
	struct sip_auth au;
	struct sip_str v;
	const char *why;
	(void)st;

	assert_int_equal(sip_cseq_parse(SIP_STR("1 INVITE x"), &c, &why), EBADMSG);
	assert_int_equal(sip_cseq_parse(SIP_STR("INVITE"), &c, &why), EBADMSG);
	assert_int_equal(sip_cseq_parse(SIP_STR("-1 INVITE"), &c, &why), EBADMSG);
	assert_int_equal(sip_callid_check(SIP_STR("a b"), &why), EBADMSG);
	assert_int_equal(sip_callid_check(SIP_STR("a@"), &why), EBADMSG);
	assert_int_equal(sip_callid_check(SIP_STR("a@b"), &why), 0);
	assert_int_equal(sip_auth_parse(SIP_STR("Digest username=\"bob, jr\", "
		"realm=\"dpn\",nonce=\"n1\", uri=\"sip:a@b\", qop=auth, nc=00000001"),
		&au, NULL), 0);
	assert_true(sip_auth_param(&au, "username", &v));
	assert_slice(v, "bob, jr");
	assert_true(sip_auth_param(&au, "NC", &v));
	assert_slice(v, "00000001");
	assert_true(sip_auth_param(&au, "qop", &v));
	assert_slice(v, "auth");
	assert_false(sip_auth_param(&au, "opaque", &v));
	{
		struct sip_str proto, params;
		assert_int_equal(sip_reason_parse(SIP_STR("SIP ;cause=200 ;"
			"text=\"Call completed elsewhere\""), &proto, &params,
			NULL), 0);
		assert_slice(proto, "SIP");
		assert_true(sip_param_find(params, "text", &v));
		assert_slice(v, "\"Call completed elsewhere\"");
		assert_int_equal(sip_reason_parse(SIP_STR("SIP cause=200"),
			&proto, &params, &why), EBADMSG);
	}
}

static void t_bad_lines(void **st)
{
	static const struct { const char *msg; int status; const char *why; } t[] = {
		{ "INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", 400, "no colon" },
		{ "INVITE sip:a@b SIP/2.0\r\n Via: x\r\n\r\n", 400, "white space" },
		{ "INVITE sip:a@b SIP/2.0\r\nV(a: x\r\n\r\n", 400, "header name" },
		{ "INVITE sip:a@b SIP/2.0\r\n: x\r\n\r\n", 400, "header name" },
		{ "INV\"ITE sip:a@b SIP/2.0\r\n\r\n", 400, "method" },
		{ "INVITE sip:a@b HTTP/1.1\r\n\r\n", 400, "version" },
		{ "SIP/2.0 99 Low\r\n\r\n", 400, "status code" },
		{ "SIP/2.0 700 High\r\n\r\n", 400, "status code" },
		{ "SIP/2.0 2000 X\r\n\r\n", 400, "status code" },
		{ "INVITE a@b SIP/2.0\r\n\r\n", 400, "Request-URI" },
		{ "\r\n\r\n", 400, "start line" },
		{ "", 400, "start line" },
		{ "INVITE sip:a@b SIP/2.0\r\nl: 12x\r\n\r\n", 400, "Content-Length" },
		{ "INVITE sip:a@b SIP/2.0\r\nl: 99999999999999999999\r\n\r\n", 400, "Content-Length" },
	};
	(void)st;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sip_msg m;
		struct sip_perr e = { 0 };
		int rc = parse(t[i].msg, strlen(t[i].msg), &m, &e);
		if (rc == 0 || e.status != t[i].status ||
		    !strstr(e.reason, t[i].why))
			fail_msg("case %zu: rc %d %d %s", i, rc, e.status,
				 rc ? e.reason : "");
	}
}

/* One header line added to a good OPTIONS: accepted (why == NULL) or
 * rejected by sip_msg_check with a reason containing why. */
static void t_header_edges(void **st)
{
	static const struct { const char *hdr; const char *why; } t[] = {
		{ "Max-Forwards: 255", NULL },
		{ "Max-Forwards: 256", "Bad Max-Forwards" },
		{ "Max-Forwards: -1", "Bad Max-Forwards" },
		{ "Max-Forwards: 7 8", "Bad Max-Forwards" },
		{ "Expires: 4294967295", NULL },
		{ "Expires: 4294967296", "Bad Expires" },
		{ "Contact: *", NULL },
		{ "Contact: <sip:a@127.0.0.1>;expires=4294967296", "Bad Contact" },
		{ "Contact: <sip:a@127.0.0.1>;expires=60, <sip:b@127.0.0.1>;q=0.1",
		  NULL },
		{ "Contact: <sip:a@127.0.0.1>,", "Bad Contact" },
		{ "Contact: sip:a@127.0.0.1, sip:b@127.0.0.1;x=y", NULL },
		{ "Route: <sip:127.0.0.2;lr>, <sip:127.0.0.3;lr>", NULL },
		{ "Route: sip:127.0.0.2;lr?x=y", "Bad Route" },
		{ "Record-Route: <sip:127.0.0.2;lr", "Bad Record-Route" },
		{ "Supported: path, 100rel", NULL },
		{ "Supported: pa th", "Bad Supported" },
		{ "Require: a/b", "Bad Require" },
		{ "Proxy-Require: x y", "Bad Proxy-Require" },
		{ "P-Asserted-Identity: <sip:100-1101-1201-1@127.0.0.1>, "
		  "<tel:+10011011201>", NULL },
		{ "P-Asserted-Identity: \"unterminated <sip:a@b>", "Bad P-Asserted" },
		{ "Reason: SIP ;cause=487 ;text=\"x\"", NULL },
		{ "Reason: ;cause=1", "Bad Reason" },
		{ "Authorization: Digest username=\"a\"", NULL },
		{ "Authorization: ", "Bad Authorization" },
		{ "WWW-Authenticate: \"x\"", "Bad WWW-Authenticate" },
		{ "Date: Sat, 21 Nov 2026 20:00:00 GMT", NULL },
		{ "Date: Sat, 21 Nov 2026 20:00:00 CET", "Bad Date" },
		{ "Content-Type: text/plain\r\nc: text/html", "Multiple Content-Type" },
		{ "i: second-call-id", "Multiple Call-ID" },
		{ "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx;ttl=1;maddr=127.0.0.1",
		  NULL },
		{ "Via: SIP/2.0/UDP 127.0.0.1;;branch=z9hG4bKx", "Bad Via" },
		{ "v: SIP/2.0/UDP 127.0.0.1:0x;branch=z9hG4bKx", "Bad Via" },
	};
	(void)st;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[1024];
		struct sip_msg m;
		struct sip_perr e = { 0 };
		int n = snprintf(buf, sizeof(buf),
			"OPTIONS sip:u@127.0.0.1 SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKe\r\n"
			"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:u@127.0.0.1>\r\n"
			"Call-ID: e@1\r\nCSeq: 1 OPTIONS\r\n%s\r\n"
			"Content-Length: 0\r\n\r\n", t[i].hdr);
		int rc = parse(buf, (size_t)n, &m, &e);
		if (rc == 0)
			rc = sip_msg_check(&m, &e);
		if (t[i].why ? (rc == 0 || !strstr(e.reason, t[i].why)) : rc != 0)
			fail_msg("case %zu (%s): rc %d %s", i, t[i].hdr, rc,
				 rc ? e.reason : "accepted");
	}
}

static void t_nul_laden(void **st)
{
	char buf[sizeof(invite)];
	struct sip_msg m;
	struct sip_perr e;
	size_t n = sizeof(invite) - 1;
	(void)st;

	memcpy(buf, invite, n);
	buf[3] = '\0';		/* in the method */
	assert_int_equal(parse(buf, n, &m, &e), EBADMSG);
	memcpy(buf, invite, n);
	buf[70] = '\0';		/* in the Via value */
	assert_int_equal(parse(buf, n, &m, &e), EBADMSG);
	assert_non_null(strstr(e.reason, "NUL"));
	memcpy(buf, invite, n);
	buf[n - 5] = '\0';	/* in the body: bodies may carry any octet */
	assert_int_equal(parse(buf, n, &m, &e), 0);
	/* all-NUL and all-garbage datagrams */
	memset(buf, 0, n);
	assert_int_equal(parse(buf, n, &m, &e), EBADMSG);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + 3);
	assert_int_equal(parse(buf, n, &m, &e), EBADMSG);
}

static void t_truncated(void **st)
{
	size_t n = sizeof(invite) - 1;
	(void)st;

	/* Every prefix fails cleanly, never reading past its end (ASan);
	 * a datagram cut before Content-Length is a shorter message. */
	for (size_t k = 0; k < n; k++) {
		char *b = malloc(k ? k : 1);
		struct sip_msg m;
		struct sip_perr e;
		memcpy(b, invite, k);
		if (parse(b, k, &m, &e) == 0)
			assert_int_equal(sip_msg_hdr_find(&m,
				SIP_HDR_CONTENT_LENGTH, 0), -1);
		assert_int_not_equal(sip_msg_parse(&m, b, k, SIP_PARSE_STREAM,
						   &e), 0);
		free(b);
	}
}

static void t_oversized(void **st)
{
	size_t n = SIP_MAX_MSG + 100;
	char *b = malloc(n);
	struct sip_msg m;
	struct sip_perr e;
	struct sip_frame f;
	(void)st;

	memset(b, 'a', n);
	memcpy(b, "OPTIONS sip:a@b SIP/2.0\r\n", 25);
	assert_int_equal(parse(b, n, &m, &e), EMSGSIZE);
	assert_int_equal(e.status, 513);
	/* a header block that never ends */
	assert_int_equal(sip_frame(b, 5000, 4096, &f), EMSGSIZE);
	assert_int_equal(sip_frame(b, 3000, 4096, &f), EAGAIN);
	/* a Content-Length beyond the cap */
	{
		static const char big[] = "OPTIONS sip:a@b SIP/2.0\r\n"
			"l: 100000\r\n\r\n";
		assert_int_equal(sip_frame(big, sizeof(big) - 1, 4096, &f),
				 EMSGSIZE);
	}
	free(b);
}

static void t_too_many_headers(void **st)
{
	char *b = malloc(20000);
	size_t n = 0;
	struct sip_msg m;
	struct sip_perr e;
	(void)st;

	n += (size_t)sprintf(b, "OPTIONS sip:a@b SIP/2.0\r\n");
	for (int i = 0; i < SIP_MAX_HDRS + 1; i++)
		n += (size_t)sprintf(b + n, "X-H%d: %d\r\n", i, i);
	n += (size_t)sprintf(b + n, "\r\n");
	assert_int_equal(parse(b, n, &m, &e), EMSGSIZE);
	assert_non_null(strstr(e.reason, "Too many"));
	assert_int_equal(e.status, 513);	/* too large, not malformed */
	free(b);
}

/* A stream of messages and keep-alives, fed in pieces: the framer finds
 * exactly the same messages whatever the split. */
static const char *stream_parts[] = { invite, "\r\n\r\n", invite, "\r\n" };

static size_t build_stream(char *dst)
{
	size_t n = 0;

	for (size_t i = 0; i < 4; i++) {
		size_t k = strlen(stream_parts[i]);
		memcpy(dst + n, stream_parts[i], k);
		n += k;
	}
	return n;
}

/* Feed `total` bytes in chunks from `cuts`, framing as a transport does. */
static void feed(const char *s, size_t total, const size_t *cuts, size_t ncuts)
{
	char buf[4096];
	size_t have = 0, fed = 0, c = 0;
	int msgs = 0, pings = 0, pongs = 0;

	while (fed < total || have) {
		size_t take = c < ncuts ? cuts[c++] : total - fed;
		struct sip_frame f;
		int rc;
		if (take > total - fed)
			take = total - fed;
		memcpy(buf + have, s + fed, take);
		have += take;
		fed += take;
		while ((rc = sip_frame(buf, have, sizeof(buf), &f)) == 0) {
			if (f.kind == SIP_FRAME_MSG) {
				struct sip_msg m;
				struct sip_perr e;
				assert_int_equal(f.len, strlen(invite));
				assert_int_equal(sip_msg_parse(&m, buf, f.len,
					SIP_PARSE_STREAM, &e), 0);
				assert_memory_equal(buf, invite, f.len);
				msgs++;
			} else if (f.kind == SIP_FRAME_PING) {
				pings++;
			} else {
				pongs++;
			}
			memmove(buf, buf + f.len, have - f.len);
			have -= f.len;
		}
		assert_int_equal(rc, EAGAIN);
		if (fed == total && have)
			fail_msg("%zu bytes left unframed", have);
	}
	assert_int_equal(msgs, 2);
	assert_int_equal(pings + pongs >= 2, 1);
}

static void t_stream_byte_at_a_time(void **st)
{
	char s[4096];
	size_t n = build_stream(s), cuts[4096];
	(void)st;

	for (size_t i = 0; i < n; i++)
		cuts[i] = 1;
	feed(s, n, cuts, n);
	feed(s, n, NULL, 0);	/* and all at once */
}

static void t_stream_random_splits(void **st)
{
	char s[4096];
	size_t n = build_stream(s), cuts[4096];
	uint32_t x = 12345;
	(void)st;

	for (int round = 0; round < 300; round++) {
		size_t k = 0, sum = 0;
		while (sum < n) {
			x = x * 1103515245u + 12345u;
			cuts[k] = 1 + (x >> 16) % 97;
			sum += cuts[k++];
		}
		feed(s, n, cuts, k);
	}
}

static void t_keepalive(void **st)
{
	struct sip_frame f;
	(void)st;

	assert_int_equal(sip_frame("\r\n\r\n", 4, 100, &f), 0);
	assert_int_equal(f.kind, SIP_FRAME_PING);
	assert_int_equal(sip_frame("\r\nINV", 5, 100, &f), 0);
	assert_int_equal(f.kind, SIP_FRAME_PONG);
	assert_int_equal(f.len, 2);
	assert_int_equal(sip_frame("\r", 1, 100, &f), EAGAIN);
	assert_int_equal(sip_frame("\r\n\r", 3, 100, &f), EAGAIN);
	assert_int_equal(sip_frame("\r\n", 2, 100, &f), 0);
	assert_int_equal(f.kind, SIP_FRAME_PONG);
}

static void t_bad_stream_length(void **st)
{
	static const char s[] = "OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n";
	static const char two[] = "OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab";
	struct sip_frame f;
	(void)st;

	assert_int_equal(sip_frame(s, sizeof(s) - 1, 4096, &f), EBADMSG);
	assert_int_equal(sip_frame(two, sizeof(two) - 1, 4096, &f), EBADMSG);
}

static void t_answer_400(void **st)
{
	static const char bad[] = "INVITE sip:a@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKq\r\n"
		"From: <sip:x@127.0.0.1>;tag=1\r\nTo: \"unterminated <sip:a@b>\r\n"
		"Call-ID: c@h\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
	struct sip_msg m, r;
	struct sip_perr e, e2;
	char out[1024];
	size_t n;
	(void)st;

	assert_int_equal(parse(bad, sizeof(bad) - 1, &m, &e), 0);
	assert_int_equal(sip_msg_check(&m, &e), EBADMSG);
	assert_int_equal(sip_response_write(&m, e.status, e.reason, "srv1", NULL,
		(struct sip_str){ 0 }, out, sizeof(out), &n), 0);
	assert_int_equal(parse(out, n, &r, &e2), 0);
	assert_int_equal(r.status, 400);
	assert_slice(r.reason, "Bad To: Unterminated quoted string");
	assert_int_equal(sip_msg_hdr_count(&r, SIP_HDR_VIA), 1);
	assert_int_equal(sip_response_write(&m, 400, "a\r\nb", NULL, NULL,
		(struct sip_str){ 0 }, out, sizeof(out), &n), EINVAL);
	assert_int_equal(sip_response_write(&m, 400, NULL, NULL, NULL,
		(struct sip_str){ 0 }, out, 20, &n), ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_typical_invite),
		cmocka_unit_test(t_compact_and_case),
		cmocka_unit_test(t_values_split),
		cmocka_unit_test(t_uris),
		cmocka_unit_test(t_addr_edges),
		cmocka_unit_test(t_via_edges),
		cmocka_unit_test(t_scalars),
		cmocka_unit_test(t_bad_lines),
		cmocka_unit_test(t_header_edges),
		cmocka_unit_test(t_nul_laden),
		cmocka_unit_test(t_truncated),
		cmocka_unit_test(t_oversized),
		cmocka_unit_test(t_too_many_headers),
		cmocka_unit_test(t_stream_byte_at_a_time),
		cmocka_unit_test(t_stream_random_splits),
		cmocka_unit_test(t_keepalive),
		cmocka_unit_test(t_bad_stream_length),
		cmocka_unit_test(t_answer_400),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
