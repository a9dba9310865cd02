/* tests/unit/test_sip_rfc4475.c — the 49 SIP torture test messages of
 * RFC 4475: valid ones parse to the values the RFC describes, invalid ones
 * are rejected for the RFC's reason, and the transaction- and
 * application-layer ones get what the RFC asks of a proxy. The messages are
 * read from ../shared/data/rfc4475 (or $RFC4475_DIR), never copied here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "sip/msg.h"
#include "sip/hdr.h"
#include "sip/proxy.h"
#include "sip_testutil.h"

struct loaded {
	char *buf;
	size_t len;
	struct sip_msg m;
	struct sip_perr err;
	int parse_rc, check_rc;
};

static struct loaded *load(const char *name)
{
	struct loaded *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	l->buf = rfc4475_load(name, &l->len);
	l->parse_rc = sip_msg_parse(&l->m, l->buf, l->len, 0, &l->err);
	if (l->parse_rc == 0)
		l->check_rc = sip_msg_check(&l->m, &l->err);
	return l;
}

static void unload(struct loaded *l)
{
	sip_msg_release(&l->m);
	free(l->buf);
	free(l);
}

/* A valid message: parses and passes the full check. */
static struct loaded *valid(const char *name)
{
	struct loaded *l = load(name);

	if (l->parse_rc || l->check_rc)
		fprintf(stderr, "%s: %d %s\n", name, l->err.status,
			l->err.reason);
	assert_int_equal(l->parse_rc, 0);
	assert_int_equal(l->check_rc, 0);
	return l;
}

/* An invalid message: rejected with `status` and a reason containing
 * `why`. */
static void invalid(const char *name, int status, const char *why)
{
	struct loaded *l = load(name);
	int rc = l->parse_rc ? l->parse_rc : l->check_rc;

	fprintf(stderr, "%s: %d %s\n", name, l->err.status,
		rc ? l->err.reason : "(accepted)");
	assert_int_not_equal(rc, 0);
	assert_int_equal(l->err.status, status);
	assert_non_null(strstr(l->err.reason, why));
	unload(l);
}

static struct sip_str nth_value(const struct sip_msg *m, enum sip_hdr_id id,
				unsigned n)
{
	struct sip_str v = { 0 };

	for (int i = sip_msg_hdr_find(m, id, 0); i >= 0;
	     i = sip_msg_hdr_find(m, id, (unsigned)i + 1)) {
		size_t pos = 0;
		while (sip_hdr_next_value(m->hdrs[i].value, &pos, &v) == 1)
			if (n-- == 0)
				return v;
	}
	fail_msg("value %u of header %d missing", n, id);
	return v;
}

static unsigned count_values(const struct sip_msg *m, enum sip_hdr_id id)
{
	unsigned n = 0;

	for (int i = sip_msg_hdr_find(m, id, 0); i >= 0;
	     i = sip_msg_hdr_find(m, id, (unsigned)i + 1)) {
		struct sip_str v;
		size_t pos = 0;
		while (sip_hdr_next_value(m->hdrs[i].value, &pos, &v) == 1)
			n++;
	}
	return n;
}

static int proxy_verdict(const struct sip_msg *m)
{
	static const char *const sup[] = { "path", NULL };
	struct sip_proxy_self self = { "proxy.invalid", 5060, sup };
	const char *reason;

	return sip_proxy_check_request(m, &self, &reason);
}

/* ---- 3.1.1 valid ---- */

static void t_wsinv(void **st)
{
	struct loaded *l = valid("wsinv");
	struct sip_addr a;
	struct sip_cseq cs;
	struct sip_via v;
	struct sip_str p;
	unsigned mf;
	int i;
	(void)st;

	assert_int_equal(l->m.method, SIP_INVITE);
	assert_slice(l->m.ruri, "sip:vivekg@chair-dnrc.example.com;unknownparam");
	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_slice(a.uri_str, "sip:vivekg@chair-dnrc.example.com");
	assert_slice(a.tag, "1918181833n");
	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_slice(a.display, "\"J Rosenberg \\\\\\\"\"");
	assert_slice(a.uri_str, "sip:jdrosen@example.com");
	assert_slice(a.tag, "98asjd8");
	assert_int_equal(sip_msg_max_forwards(&l->m, &mf), 0);
	assert_int_equal(mf, 68);
	assert_int_equal(sip_msg_cseq(&l->m, &cs), 0);
	assert_int_equal(cs.num, 9);
	assert_int_equal(cs.method, SIP_INVITE);
	assert_int_equal(count_values(&l->m, SIP_HDR_VIA), 3);
	assert_int_equal(sip_msg_via(&l->m, 0, &v), 0);
	assert_slice(v.host, "192.0.2.2");
	assert_slice(v.transport, "UDP");
	assert_slice(v.branch, "390skdjuw");
	assert_int_equal(sip_msg_via(&l->m, 1, &v), 0);
	assert_slice(v.transport, "TCP");
	assert_slice(v.host, "spindle.example.com");
	assert_slice(v.branch, "z9hG4bK9ikj8");
	assert_int_equal(sip_msg_via(&l->m, 2, &v), 0);
	assert_slice(v.host, "192.168.255.111");
	assert_slice(v.branch, "z9hG4bK30239");
	i = sip_msg_hdr_find(&l->m, SIP_HDR_SUBJECT, 0);
	assert_true(i >= 0);
	assert_int_equal(l->m.hdrs[i].value.len, 0);
	i = sip_msg_hdr_find_name(&l->m, "newfangledheader", 0);
	assert_true(i >= 0);
	assert_slice(l->m.hdrs[i].value,
		     "newfangled value\r\n continued newfangled value");
	i = sip_msg_hdr_find(&l->m, SIP_HDR_CONTACT, 0);
	assert_int_equal(sip_addr_parse(l->m.hdrs[i].value, 0, &a, NULL), 0);
	assert_slice(a.display, "\"Quoted string \\\"\\\"\"");
	assert_true(sip_param_find(a.params, "newparam", &p));
	assert_slice(p, "newvalue");
	assert_true(sip_param_find(a.params, "secondparam", &p));
	assert_int_equal(p.len, 0);
	assert_true(sip_param_find(a.params, "q", &p));
	assert_slice(p, "0.33");
	i = sip_msg_hdr_find(&l->m, SIP_HDR_ROUTE, 0);
	assert_int_equal(sip_addr_parse(l->m.hdrs[i].value, 0, &a, NULL), 0);
	assert_true(sip_param_find(a.uri.params, "lr", &p));
	assert_true(sip_param_find(a.uri.params, "unknownwith", &p));
	assert_slice(p, "value");
	assert_int_equal(l->m.body.len, 150);
	assert_int_equal(proxy_verdict(&l->m), 0);
	unload(l);
}

static void t_intmeth(void **st)
{
	struct loaded *l = valid("intmeth");
	struct sip_uri u;
	struct sip_addr a;
	struct sip_cseq cs;
	struct sip_str cid, p;
	int i;
	(void)st;

	assert_int_equal(l->m.method, SIP_METHOD_OTHER);
	assert_slice(l->m.method_str, "!interesting-Method0123456789_*+`.%indeed'~");
	assert_int_equal(sip_uri_parse(l->m.ruri, &u, NULL), 0);
	assert_slice(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	assert_slice(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
	assert_slice(u.host, "example.com");
	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_int_equal(a.display.len, 22);	/* with BEL, NUL, DEL */
	assert_slice(a.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_slice(a.display, "token1~` token2'+_ token3*%!.-");
	assert_slice(a.tag, "_token~1'+`*%!-.");
	assert_true(sip_param_find(a.params, "fromParam''~+*_!.-%", &p));
	assert_int_equal(sip_msg_callid(&l->m, &cid), 0);
	assert_slice(cid, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
	assert_int_equal(sip_msg_cseq(&l->m, &cs), 0);
	assert_int_equal(cs.num, 139122385);
	assert_true(sip_str_eq_str(cs.method_str, l->m.method_str));
	i = sip_msg_hdr_find_name(&l->m, "extensionHeader-!.%*+_`'~", 0);
	assert_true(i >= 0);
	assert_int_equal(l->m.hdrs[i].value.len, 12);	/* UTF-8 bytes */
	unload(l);
}

static void t_esc01(void **st)
{
	struct loaded *l = valid("esc01");
	struct sip_uri u;
	struct sip_addr a;
	char buf[64];
	size_t n;
	int i;
	(void)st;

	assert_int_equal(sip_uri_parse(l->m.ruri, &u, NULL), 0);
	assert_int_equal(sip_unescape(u.user, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 21);
	assert_memory_equal(buf, "sips:user@example.com", n);
	assert_slice(u.host, "example.net");
	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_int_equal(sip_unescape(a.uri.user, buf, sizeof(buf), &n), 0);
	assert_memory_equal(buf, "user", n);
	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_int_equal(sip_unescape(a.uri.user, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(buf, "I have spaces", n);
	i = sip_msg_hdr_find(&l->m, SIP_HDR_CONTACT, 0);
	assert_int_equal(sip_addr_parse(l->m.hdrs[i].value, 0, &a, NULL), 0);
	assert_int_equal(sip_unescape(a.uri.user, buf, sizeof(buf), &n), 0);
	assert_memory_equal(buf, "caller", n);
	assert_slice(a.uri.params, "%6C%72;n%61me=v%61lue%25%34%31");
	assert_int_equal(sip_msg_hdr_find(&l->m, SIP_HDR_CALL_ID, 0) >= 0, 1);
	assert_int_equal(sip_msg_hdr_find(&l->m, SIP_HDR_CONTENT_TYPE, 0) >= 0, 1);
	unload(l);
}

static void t_escnull(void **st)
{
	struct loaded *l = valid("escnull");
	struct sip_addr a;
	char buf[64];
	size_t n;
	(void)st;

	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_int_equal(sip_unescape(a.uri.user, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "null-\0-null", 11);
	assert_int_equal(count_values(&l->m, SIP_HDR_CONTACT), 2);
	assert_int_equal(sip_addr_parse(nth_value(&l->m, SIP_HDR_CONTACT, 1),
					0, &a, NULL), 0);
	assert_int_equal(sip_unescape(a.uri.user, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "\0\0", 2);
	unload(l);
}

static void t_esc02(void **st)
{
	struct loaded *l = valid("esc02");
	struct sip_via v;
	struct sip_addr a;
	(void)st;

	assert_int_equal(l->m.method, SIP_METHOD_OTHER);
	assert_slice(l->m.method_str, "RE%47IST%45R");
	/* C%6Fntact is an extension header, not a third Contact */
	assert_int_equal(sip_msg_hdr_count(&l->m, SIP_HDR_CONTACT), 2);
	assert_true(sip_msg_hdr_find_name(&l->m, "C%6Fntact", 0) >= 0);
	assert_int_equal(sip_msg_via(&l->m, 0, &v), 0);
	assert_slice(v.branch, "z9hG4bK209%fzsnel234");
	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_slice(a.display, "\"%Z%45\"");
	unload(l);
}

static void t_lwsdisp(void **st)
{
	struct loaded *l = valid("lwsdisp");
	struct sip_addr a;
	(void)st;

	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_slice(a.display, "caller");
	assert_slice(a.uri_str, "sip:caller@example.com");
	assert_slice(a.tag, "323");
	unload(l);
}

static void t_longreq(void **st)
{
	struct loaded *l = valid("longreq");
	struct sip_addr a;
	struct sip_via v;
	struct sip_str p;
	(void)st;

	assert_int_equal(count_values(&l->m, SIP_HDR_VIA), 34);
	assert_int_equal(sip_msg_via(&l->m, 33, &v), 0);
	assert_slice(v.host, "host.example.com");
	assert_slice(v.received, "192.0.2.5");
	assert_true(v.branch.len > 200);
	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_int_equal(a.uri.port, 6000);
	assert_true(sip_param_find(a.uri.params, "unknownparam1", &p));
	assert_true(p.len > 80);
	assert_true(a.display.len > 100);
	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_true(a.tag.len > 100);
	assert_int_equal(l->m.body.len, 150);
	unload(l);
}

static void t_dblreq(void **st)
{
	struct loaded *l = valid("dblreq");
	(void)st;

	/* Only the REGISTER counts; the INVITE after it is ignored. */
	assert_int_equal(l->m.method, SIP_REGISTER);
	assert_int_equal(l->m.body.len, 0);
	assert_true(l->m.buf.len < l->len);
	assert_int_equal(sip_msg_hdr_find(&l->m, SIP_HDR_CONTENT_TYPE, 0), -1);
	unload(l);
}

static void t_semiuri(void **st)
{
	struct loaded *l = valid("semiuri");
	struct sip_uri u;
	(void)st;

	assert_int_equal(sip_uri_parse(l->m.ruri, &u, NULL), 0);
	assert_slice(u.user, "user;par=u%40example.net");
	assert_slice(u.host, "example.com");
	assert_int_equal(u.params.len, 0);
	assert_int_equal(count_values(&l->m, SIP_HDR_ACCEPT), 6);
	unload(l);
}

static void t_transports(void **st)
{
	static const char *const want[] = { "UDP", "SCTP", "TLS", "UNKNOWN",
					    "TCP" };
	struct loaded *l = valid("transports");
	struct sip_via v;
	(void)st;

	assert_int_equal(count_values(&l->m, SIP_HDR_VIA), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(sip_msg_via(&l->m, i, &v), 0);
		assert_slice(v.transport, want[i]);
	}
	unload(l);
}

static void t_mpart01(void **st)
{
	struct loaded *l = valid("mpart01");
	int i = sip_msg_hdr_find(&l->m, SIP_HDR_CONTENT_TYPE, 0);
	(void)st;

	assert_slice(l->m.hdrs[i].value,
		     "multipart/mixed;boundary=7a9cbec02ceef655");
	assert_int_equal(l->m.body.len, 553);
	assert_true(memchr(l->m.body.s, '\0', l->m.body.len) != NULL);
	unload(l);
}

static void t_unreason(void **st)
{
	struct loaded *l = valid("unreason");
	(void)st;

	assert_false(l->m.is_request);
	assert_int_equal(l->m.status, 200);
	assert_true(l->m.reason.len > 20);
	assert_memory_equal(l->m.reason.s, "= 2**3 * 5**2 ", 14);
	unload(l);
}

static void t_noreason(void **st)
{
	struct loaded *l = valid("noreason");
	(void)st;

	assert_int_equal(l->m.status, 100);
	assert_int_equal(l->m.reason.len, 0);
	unload(l);
}

/* ---- 3.1.2 invalid ---- */

static void t_badinv01(void **st) { (void)st; invalid("badinv01", 400, "Via"); }
static void t_clerr(void **st) { (void)st; invalid("clerr", 400, "Content-Length larger"); }
static void t_ncl(void **st) { (void)st; invalid("ncl", 400, "Content-Length"); }
static void t_scalar02(void **st) { (void)st; invalid("scalar02", 400, "overlarge"); }
static void t_scalarlg(void **st) { (void)st; invalid("scalarlg", 400, "overlarge"); }
static void t_quotbal(void **st) { (void)st; invalid("quotbal", 400, "Unterminated quoted"); }
static void t_ltgtruri(void **st) { (void)st; invalid("ltgtruri", 400, "enclosed in <>"); }
static void t_lwsruri(void **st) { (void)st; invalid("lwsruri", 400, "embedded white space"); }
static void t_lwsstart(void **st) { (void)st; invalid("lwsstart", 400, "extra white space"); }
static void t_trws(void **st) { (void)st; invalid("trws", 400, "trailing white space"); }
static void t_escruri(void **st) { (void)st; invalid("escruri", 400, "headers not allowed"); }
static void t_baddate(void **st) { (void)st; invalid("baddate", 400, "GMT"); }
static void t_regbadct(void **st) { (void)st; invalid("regbadct", 400, "must be in <>"); }
static void t_badaspec(void **st) { (void)st; invalid("badaspec", 400, "White space within <URI>"); }
static void t_baddn(void **st) { (void)st; invalid("baddn", 400, "display name"); }
static void t_badvers(void **st) { (void)st; invalid("badvers", 505, "Version Not Supported"); }
static void t_mismatch01(void **st) { (void)st; invalid("mismatch01", 400, "method does not match"); }
static void t_mismatch02(void **st) { (void)st; invalid("mismatch02", 400, "method does not match"); }
static void t_bigcode(void **st) { (void)st; invalid("bigcode", 400, "status code"); }

/* The scalar checks each catch their own field, not only the first. */
static void t_scalar02_fields(void **st)
{
	unsigned mf;
	uint64_t x;
	struct sip_cseq cs;
	(void)st;

	assert_int_equal(sip_max_forwards_parse(SIP_STR("300"), &mf, NULL),
			 EBADMSG);
	assert_int_equal(sip_delta_parse(SIP_STR("1000000000000000000000"),
					 0xffffffffULL, &x, NULL), EBADMSG);
	assert_int_equal(sip_delta_parse(SIP_STR("280297596632815"),
					 0xffffffffULL, &x, NULL), EBADMSG);
	assert_int_equal(sip_cseq_parse(SIP_STR("2147483648 INVITE"), &cs,
					NULL), EBADMSG);
	assert_int_equal(sip_cseq_parse(SIP_STR("2147483647 INVITE"), &cs,
					NULL), 0);
}

/* ---- 3.2 transaction layer ---- */

static void t_badbranch(void **st)
{
	struct loaded *l = valid("badbranch");
	struct sip_tsx_key k;
	(void)st;

	/* branch=z9hG4bK alone carries no identifier: fall back to RFC 2543
	 * matching rather than trusting it. */
	assert_int_equal(sip_tsx_key(&l->m, 0, &k), 0);
	assert_int_equal(k.rfc3261, 0);
	assert_int_equal(proxy_verdict(&l->m), 0);
	unload(l);
}

/* ---- 3.3 application layer ---- */

static void t_insuf(void **st) { (void)st; invalid("insuf", 400, "Missing Required Header Field"); }
static void t_multi01(void **st) { (void)st; invalid("multi01", 400, "Multiple"); }
static void t_mcl01(void **st) { (void)st; invalid("mcl01", 400, "Multiple Content-Length"); }

static void t_unkscm(void **st)
{
	struct loaded *l = valid("unkscm");
	(void)st;

	assert_int_equal(proxy_verdict(&l->m), 416);
	unload(l);
}

static void t_novelsc(void **st)
{
	struct loaded *l = valid("novelsc");
	struct sip_uri u;
	(void)st;

	assert_int_equal(sip_uri_parse(l->m.ruri, &u, NULL), 0);
	assert_slice(u.scheme_str, "soap.beep");
	assert_int_equal(proxy_verdict(&l->m), 416);
	unload(l);
}

static void t_unksm2(void **st)
{
	struct loaded *l = valid("unksm2");
	struct sip_addr a;
	(void)st;

	assert_int_equal(sip_msg_to(&l->m, &a), 0);
	assert_slice(a.uri.scheme_str, "isbn");
	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_slice(a.uri.scheme_str, "http");
	assert_int_equal(proxy_verdict(&l->m), 0);
	unload(l);
}

static void t_bext01(void **st)
{
	static const char *const sup[] = { "path", NULL };
	struct sip_proxy_self self = { "proxy.invalid", 5060, sup };
	struct loaded *l = valid("bext01");
	char buf[128];
	(void)st;

	assert_int_equal(proxy_verdict(&l->m), 420);
	assert_int_equal(sip_proxy_unsupported(&l->m, &self, buf,
					       sizeof(buf)), 0);
	assert_string_equal(buf,
			    "noProxiesSupportThis, norDoAnyProxiesSupportThis");
	unload(l);
}

static void t_invut(void **st)
{
	struct loaded *l = valid("invut");
	(void)st;

	/* A proxy forwards an unknown body type; the UAS answers 415. */
	assert_int_equal(proxy_verdict(&l->m), 0);
	assert_int_equal(l->m.body.len, 40);
	unload(l);
}

static void t_regaut01(void **st)
{
	struct loaded *l = valid("regaut01");
	struct sip_auth au;
	struct sip_str v;
	int i = sip_msg_hdr_find(&l->m, SIP_HDR_AUTHORIZATION, 0);
	(void)st;

	assert_int_equal(sip_auth_parse(l->m.hdrs[i].value, &au, NULL), 0);
	assert_slice(au.scheme, "NoOneKnowsThisScheme");
	assert_true(sip_auth_param(&au, "opaque-data", &v));
	assert_slice(v, "here");
	assert_int_equal(proxy_verdict(&l->m), 0);
	unload(l);
}

static void t_bcast(void **st)
{
	struct loaded *l = valid("bcast");
	struct sip_str host;
	unsigned port;
	(void)st;

	assert_int_equal(sip_proxy_response_target(&l->m, &host, &port),
			 EADDRNOTAVAIL);
	unload(l);
}

static void t_zeromf(void **st)
{
	struct loaded *l = valid("zeromf");
	(void)st;

	assert_int_equal(proxy_verdict(&l->m), 483);
	unload(l);
}

static void t_cparam01(void **st)
{
	struct loaded *l = valid("cparam01");
	struct sip_addr a;
	(void)st;

	assert_int_equal(sip_addr_parse(nth_value(&l->m, SIP_HDR_CONTACT, 0),
					SIP_ADDR_ALLOW_STAR, &a, NULL), 0);
	assert_slice(a.uri_str, "sip:+19725552222@gw1.example.net");
	assert_int_equal(a.uri.params.len, 0);
	assert_slice(a.params, "unknownparam");
	unload(l);
}

static void t_cparam02(void **st)
{
	struct loaded *l = valid("cparam02");
	struct sip_addr a;
	(void)st;

	assert_int_equal(sip_addr_parse(nth_value(&l->m, SIP_HDR_CONTACT, 0),
					SIP_ADDR_ALLOW_STAR, &a, NULL), 0);
	assert_slice(a.uri.params, "unknownparam");
	assert_int_equal(a.params.len, 0);
	unload(l);
}

static void t_regescrt(void **st)
{
	struct loaded *l = valid("regescrt");
	struct sip_addr a;
	(void)st;

	assert_int_equal(sip_addr_parse(nth_value(&l->m, SIP_HDR_CONTACT, 0),
					SIP_ADDR_ALLOW_STAR, &a, NULL), 0);
	assert_slice(a.uri.headers, "Route=%3Csip:sip.example.com%3E");
	assert_int_equal(proxy_verdict(&l->m), 0);
	unload(l);
}

static void t_sdp01(void **st)
{
	struct loaded *l = valid("sdp01");
	int i = sip_msg_hdr_find(&l->m, SIP_HDR_ACCEPT, 0);
	(void)st;

	/* The UAS answers 406; a proxy forwards it untouched. */
	assert_slice(l->m.hdrs[i].value, "text/nobodyKnowsThis");
	assert_int_equal(proxy_verdict(&l->m), 0);
	unload(l);
}

/* ---- 3.4 backward compatibility ---- */

static void t_inv2543(void **st)
{
	struct loaded *l = valid("inv2543");
	struct sip_tsx_key k;
	struct sip_addr a;
	struct sip_via v;
	unsigned mf;
	(void)st;

	assert_int_equal(sip_msg_via(&l->m, 0, &v), 0);
	assert_false(v.has_branch);
	assert_int_equal(sip_msg_from(&l->m, &a), 0);
	assert_false(a.has_tag);
	assert_int_equal(sip_tsx_key(&l->m, 0, &k), 0);
	assert_int_equal(k.rfc3261, 0);
	/* no Content-Length over UDP: the body is the rest of the datagram */
	assert_int_equal(l->m.body.len, l->len - (size_t)(l->m.body.s - l->buf));
	assert_int_equal(proxy_verdict(&l->m), 0);
	assert_int_equal(sip_proxy_dec_max_forwards(&l->m), 0);
	assert_int_equal(sip_msg_max_forwards(&l->m, &mf), 0);
	assert_int_equal(mf, 70);
	unload(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_wsinv), cmocka_unit_test(t_intmeth),
		cmocka_unit_test(t_esc01), cmocka_unit_test(t_escnull),
		cmocka_unit_test(t_esc02), cmocka_unit_test(t_lwsdisp),
		cmocka_unit_test(t_longreq), cmocka_unit_test(t_dblreq),
		cmocka_unit_test(t_semiuri), cmocka_unit_test(t_transports),
		cmocka_unit_test(t_mpart01), cmocka_unit_test(t_unreason),
		cmocka_unit_test(t_noreason),
		cmocka_unit_test(t_badinv01), cmocka_unit_test(t_clerr),
		cmocka_unit_test(t_ncl), cmocka_unit_test(t_scalar02),
		cmocka_unit_test(t_scalarlg), cmocka_unit_test(t_quotbal),
		cmocka_unit_test(t_ltgtruri), cmocka_unit_test(t_lwsruri),
		cmocka_unit_test(t_lwsstart), cmocka_unit_test(t_trws),
		cmocka_unit_test(t_escruri), cmocka_unit_test(t_baddate),
		cmocka_unit_test(t_regbadct), cmocka_unit_test(t_badaspec),
		cmocka_unit_test(t_baddn), cmocka_unit_test(t_badvers),
		cmocka_unit_test(t_mismatch01), cmocka_unit_test(t_mismatch02),
		cmocka_unit_test(t_bigcode), cmocka_unit_test(t_scalar02_fields),
		cmocka_unit_test(t_badbranch),
		cmocka_unit_test(t_insuf), cmocka_unit_test(t_unkscm),
		cmocka_unit_test(t_novelsc), cmocka_unit_test(t_unksm2),
		cmocka_unit_test(t_bext01), cmocka_unit_test(t_invut),
		cmocka_unit_test(t_regaut01), cmocka_unit_test(t_multi01),
		cmocka_unit_test(t_mcl01), cmocka_unit_test(t_bcast),
		cmocka_unit_test(t_zeromf), cmocka_unit_test(t_cparam01),
		cmocka_unit_test(t_cparam02), cmocka_unit_test(t_regescrt),
		cmocka_unit_test(t_sdp01), cmocka_unit_test(t_inv2543),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
