/* tests/unit/test_sip_registrar.c — the registrar: challenge, MD5 and
 * SHA-256 credentials, wrong password, unknown user, user not allowed for
 * the AOR, wrong source, Min-Expires (423) and clamping, removal by
 * expires=0 and "*", one binding per AOR (a new contact replaces the old),
 * CSeq out of order, expiry, restore, a full table, and malformed
 * requests (To without user, bad Contact, bad Expires, bad credentials). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "sip/registrar.h"
#include "sip/build.h"
#include "sip_testutil.h"

#define AOR "100-1101-1201"
#define USER "gw-100-1101-1201"
#define PASS "s3cret"

struct ctx {
	struct sip_reg *r;
	struct sip_peer from;		/* where requests come from */
	unsigned added, refreshed, removed, expired;
	char last_contact[SIP_REG_URI_MAX];
	char buf[4096];			/* the last request's bytes */
	struct sip_msg m;
	struct sip_reg_answer ans;
	uint32_t cseq;
	int no_ua;			/* leave User-Agent out */
};

static int t_ha1(void *arg, const char *aor, const char *user,
		 enum sip_digest_alg alg, char *ha1)
{
	(void)arg;
	if (strcmp(user, "intruder") == 0)
		return EACCES;
	if (strcmp(user, "gw-" AOR) != 0 || strcmp(aor, AOR) != 0)
		return strcmp(user, "gw-100-1101-1202") == 0 ? EACCES : ENOENT;
	return sip_digest_ha1(alg, user, "dpn", PASS, ha1);
}

static int t_source_ok(void *arg, const char *aor,
		       const struct sip_peer *from)
{
	const struct sockaddr_in *s = (const void *)&from->sa;
	(void)arg;
	(void)aor;
	return s->sin_addr.s_addr == htonl(0x7f000001) ? 0 : EACCES;
}

static void t_changed(void *arg, const struct sip_reg_binding *b,
		      enum sip_reg_change what)
{
	struct ctx *c = arg;

	if (what == SIP_REG_ADDED)
		c->added++;
	else if (what == SIP_REG_REFRESHED)
		c->refreshed++;
	else if (what == SIP_REG_REMOVED)
		c->removed++;
	else
		c->expired++;
	snprintf(c->last_contact, sizeof(c->last_contact), "%s", b->contact);
}

static const struct sip_reg_ops ops = { t_ha1, t_source_ok, t_changed };

static struct ctx *ctx_new(unsigned max_bindings, unsigned max_aors)
{
	struct sip_reg_cfg cfg = { .realm = "dpn", .min_expires = 60,
		.max_expires = 3600, .default_expires = 600,
		.max_bindings = max_bindings, .max_aors = max_aors };
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(sip_reg_new(&cfg, &ops, c, &c->r), 0);
	assert_int_equal(sip_peer_set(&c->from, SIP_PROTO_UDP, SIP_STR("127.0.0.1"),
				      5070), 0);
	return c;
}

static int setup(void **st)
{
	*st = ctx_new(1, 100);
	return 0;
}

static int teardown(void **st)
{
	struct ctx *c = *st;

	sip_msg_release(&c->m);
	sip_reg_free(c->r);
	free(c);
	return 0;
}

/* Send a REGISTER for `aor` with header lines `hdrs` (CRLF-ended) and an
 * optional Authorization value; returns the answer's status. */
static int send_reg(struct ctx *c, const char *aor, const char *hdrs,
		    const char *auth, uint64_t now)
{
	struct sip_perr err;
	int n;

	sip_msg_release(&c->m);
	c->cseq++;
	n = snprintf(c->buf, sizeof(c->buf),
		     "REGISTER sip:dpn SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK%u\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:%s@dpn>;tag=f\r\n"
		     "To: <sip:%s@dpn>\r\nCall-ID: reg-1\r\n"
		     "CSeq: %u REGISTER\r\n%s%s%s%s%s"
		     "Content-Length: 0\r\n\r\n", c->cseq, aor, aor,
		     c->cseq, c->no_ua ? "" : "User-Agent: test-gw\r\n", hdrs, auth ? "Authorization: " : "",
		     auth ? auth : "", auth ? "\r\n" : "");
	assert_true(n > 0 && (size_t)n < sizeof(c->buf));
	assert_int_equal(sip_msg_parse(&c->m, c->buf, (size_t)n, 0, &err), 0);
	assert_int_equal(sip_reg_handle(c->r, &c->m, &c->from, now, &c->ans), 0);
	return c->ans.status;
}

/* The WWW-Authenticate line of the last answer for alg, parsed. */
static void find_challenge(struct ctx *c, const char *alg, struct sip_auth *a)
{
	char *p = c->ans.extra, *e;

	while ((p = strstr(p, "WWW-Authenticate: ")) != NULL) {
		p += strlen("WWW-Authenticate: ");
		e = strstr(p, "\r\n");
		assert_non_null(e);
		if (memmem(p, (size_t)(e - p), alg, strlen(alg))) {
			assert_int_equal(sip_auth_parse((struct sip_str){ p,
				(size_t)(e - p) }, a, NULL), 0);
			return;
		}
		p = e;
	}
	fail_msg("no %s challenge in: %s", alg, c->ans.extra);
}

/* Register with credentials answering a fresh challenge. */
static int reg_auth(struct ctx *c, const char *alg, const char *user,
		    const char *pass, const char *aor, const char *hdrs,
		    uint64_t now)
{
	char cred[1024];
	struct sip_auth a;
	size_t n;

	assert_int_equal(send_reg(c, aor, hdrs, NULL, now), 401);
	find_challenge(c, alg, &a);
	assert_int_equal(sip_digest_answer(&a, user, pass, SIP_STR("REGISTER"),
		SIP_STR("sip:dpn"), 1, "c0ffee", cred, sizeof(cred), &n), 0);
	cred[n] = '\0';
	return send_reg(c, aor, hdrs, cred, now);
}

#define CONTACT1 "Contact: <sip:" AOR "@10.0.0.1:5060>\r\n"
#define CONTACT2 "Contact: <sip:" AOR "@10.0.0.1:5999>\r\n"

static void t_challenge(void **st)
{
	struct ctx *c = *st;
	char *sha, *md5;

	assert_int_equal(send_reg(c, AOR, CONTACT1, NULL, 1000), 401);
	sha = strstr(c->ans.extra, "algorithm=SHA-256");
	md5 = strstr(c->ans.extra, "algorithm=MD5");
	assert_non_null(sha);
	assert_non_null(md5);
	assert_true(sha < md5);
	assert_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(sip_reg_stats(c->r)->challenged, 1);
}

static void t_good_md5_and_sha256(void **st)
{
	struct ctx *c = *st;
	const struct sip_reg_binding *b;

	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	assert_non_null(strstr(c->ans.extra, "Contact: <sip:" AOR
			       "@10.0.0.1:5060>;expires=600\r\n"));
	b = sip_reg_find(c->r, AOR, 1000);
	assert_non_null(b);
	assert_string_equal(b->contact, "sip:" AOR "@10.0.0.1:5060");
	/* the contact's host and port, read once for routing */
	assert_int_equal(b->host_len, 8);
	assert_memory_equal(b->contact + b->host_at, "10.0.0.1", 8);
	assert_int_equal(b->port, 5060);
	assert_string_equal(b->user_agent, "test-gw");
	assert_int_equal(b->expires, 1600);
	assert_int_equal(b->since, 1000);
	assert_int_equal(c->added, 1);
	assert_int_equal(reg_auth(c, "SHA-256", USER, PASS, AOR,
				  "Expires: 120\r\n" CONTACT1, 1100), 200);
	assert_int_equal(c->refreshed, 1);
	b = sip_reg_find(c->r, AOR, 1100);
	assert_int_equal(b->expires, 1220);
	assert_int_equal(b->since, 1000);
	assert_int_equal(sip_reg_bindings(c->r), 1);
}

/* A REGISTER without User-Agent: an empty one stored (no copy from a
 * NULL slice). */
static void t_no_user_agent(void **st)
{
	struct ctx *c = *st;

	c->no_ua = 1;
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	assert_string_equal(sip_reg_find(c->r, AOR, 1000)->user_agent, "");
}

static void t_wrong_password_and_users(void **st)
{
	struct ctx *c = *st;

	assert_int_equal(reg_auth(c, "MD5", USER, "guess", AOR, CONTACT1,
				  1000), 401);
	assert_non_null(strstr(c->ans.extra, "WWW-Authenticate"));
	assert_int_equal(reg_auth(c, "SHA-256", "nobody", PASS, AOR, CONTACT1,
				  1000), 401);
	assert_int_equal(sip_reg_stats(c->r)->auth_failed, 2);
	/* another flat's gateway may not register this flat */
	assert_int_equal(reg_auth(c, "MD5", "gw-100-1101-1202", PASS, AOR,
				  CONTACT1, 1000), 403);
	assert_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(c->added, 0);
}

static void t_wrong_source(void **st)
{
	struct ctx *c = *st;

	assert_int_equal(sip_peer_set(&c->from, SIP_PROTO_UDP, SIP_STR("127.0.0.2"),
				      5070), 0);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 403);
	assert_non_null(strstr(c->ans.reason, "source"));
	assert_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(sip_reg_stats(c->r)->forbidden, 1);
}

static void t_expiry_limits(void **st)
{
	struct ctx *c = *st;

	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR,
				  "Expires: 10\r\n" CONTACT1, 1000), 423);
	assert_string_equal(c->ans.extra, "Min-Expires: 60\r\n");
	assert_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR,
		"Contact: <sip:" AOR "@10.0.0.1:5060>;expires=99999\r\n",
		1000), 200);
	assert_int_equal(sip_reg_find(c->r, AOR, 1000)->expires, 4600);
	/* the parameter wins over the header */
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, "Expires: 3000\r\n"
		"Contact: <sip:" AOR "@10.0.0.1:5060>;expires=100\r\n",
		1000), 200);
	assert_int_equal(sip_reg_find(c->r, AOR, 1000)->expires, 1100);
	/* a reload raises the minimum: 100 s is now too brief; the binding stays */
	assert_int_equal(sip_reg_set_expiry(c->r, 200, 100), EINVAL);
	assert_int_equal(sip_reg_set_expiry(c->r, 120, 3600), 0);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, "Contact: <sip:" AOR
		"@10.0.0.1:5060>;expires=100\r\n", 1000), 423);
	assert_string_equal(c->ans.extra, "Min-Expires: 120\r\n");
	/* expiry: gone after its time, and sip_reg_expire reports it */
	assert_non_null(sip_reg_find(c->r, AOR, 1099));
	assert_null(sip_reg_find(c->r, AOR, 1100));
	assert_int_equal(sip_reg_expire(c->r, 1099), 0);
	assert_int_equal(sip_reg_expire(c->r, 1100), 1);
	assert_int_equal(c->expired, 1);
	assert_int_equal(sip_reg_aors(c->r), 0);
	/* a refresh moves the expiry later: the walk at the old time finds
	 * nothing, the new time is still kept */
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, "Contact: <sip:" AOR
		"@10.0.0.1:5060>;expires=200\r\n", 2000), 200);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, "Contact: <sip:" AOR
		"@10.0.0.1:5060>;expires=3600\r\n", 2100), 200);
	assert_int_equal(sip_reg_expire(c->r, 2200), 0);
	assert_int_equal(sip_reg_expire(c->r, 5699), 0);
	assert_non_null(sip_reg_find(c->r, AOR, 5699));
	assert_int_equal(sip_reg_expire(c->r, 5700), 1);
	assert_int_equal(c->expired, 2);
}

static void t_remove(void **st)
{
	struct ctx *c = *st;

	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR,
		"Contact: <sip:" AOR "@10.0.0.1:5060>;expires=0\r\n", 1000),
		200);
	assert_null(strstr(c->ans.extra, "Contact"));
	assert_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(c->removed, 1);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	/* "*" needs Expires: 0 */
	assert_int_equal(send_reg(c, AOR, "Contact: *\r\n", NULL, 1000), 400);
	assert_int_equal(send_reg(c, AOR, "Contact: *\r\nExpires: 0\r\n"
				  CONTACT1, NULL, 1000), 400);
	assert_non_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR,
				  "Contact: *\r\nExpires: 0\r\n", 1000), 200);
	assert_null(sip_reg_find(c->r, AOR, 1000));
	assert_int_equal(c->removed, 2);
	assert_int_equal(sip_reg_aors(c->r), 0);
}

static void t_one_binding_replaced(void **st)
{
	struct ctx *c = *st;
	const struct sip_reg_binding *b;

	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT2, 1010),
			 200);
	assert_int_equal(sip_reg_bindings(c->r), 1);
	b = sip_reg_find(c->r, AOR, 1010);
	assert_string_equal(b->contact, "sip:" AOR "@10.0.0.1:5999");
	assert_int_equal(c->removed, 1);
	assert_int_equal(c->added, 2);
	assert_null(strstr(c->ans.extra, ":5060"));
	/* query: no Contact lists the binding, changes nothing */
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, "", 1020), 200);
	assert_non_null(strstr(c->ans.extra, "@10.0.0.1:5999>;expires=590"));
	assert_int_equal(c->added + c->removed + c->refreshed, 3);
}

static void t_out_of_order(void **st)
{
	struct ctx *c = *st;

	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	c->cseq = 0;	/* the next REGISTERs carry lower CSeqs */
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT2, 1000),
			 500);
	assert_string_equal(sip_reg_find(c->r, AOR, 1000)->contact,
			    "sip:" AOR "@10.0.0.1:5060");
}

static void t_bad_requests(void **st)
{
	struct ctx *c = *st;
	struct sip_perr err;
	const char *opts = "OPTIONS sip:dpn SIP/2.0\r\nVia: SIP/2.0/UDP h;"
		"branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:a@h>\r\n"
		"Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	struct sip_msg m;

	assert_int_equal(send_reg(c, "", CONTACT1, NULL, 1000), 400);
	assert_non_null(strstr(c->ans.reason, "To"));
	assert_int_equal(send_reg(c, AOR, "Contact: <sip:x@\r\n", NULL, 1000),
			 400);
	assert_int_equal(send_reg(c, AOR, "Contact: <>\r\n", NULL, 1000), 400);
	assert_int_equal(send_reg(c, AOR, "Expires: soon\r\n" CONTACT1, NULL,
				  1000), 400);
	assert_non_null(strstr(c->ans.reason, "Expires"));
	assert_int_equal(send_reg(c, AOR, "Contact: <sip:a@h>;expires=-1\r\n",
				  NULL, 1000), 400);
	assert_int_equal(send_reg(c, AOR, "Contact: <sip:a@h>, <sip:b@h>, "
		"<sip:c@h>, <sip:d@h>, <sip:e@h>, <sip:f@h>, <sip:g@h>, "
		"<sip:h@h>, <sip:i@h>\r\n", NULL, 1000), 400);
	assert_int_equal(send_reg(c, AOR, CONTACT1, "Basic dXNlcjpwYXNz",
				  1000), 401);
	assert_int_equal(send_reg(c, AOR, CONTACT1, "Digest realm=\"dpn\"",
				  1000), 400);
	assert_int_equal(send_reg(c, AOR, CONTACT1, "Digest realm=\"dpn\", "
		"username=\"" USER "\", nonce=\"forged\", uri=\"sip:dpn\", "
		"response=\"00\", algorithm=MD5, qop=auth, nc=00000001, "
		"cnonce=\"x\"", 1000), 401);
	assert_int_equal(send_reg(c, AOR, CONTACT1, "Digest realm=\"dpn\", "
		"username=\"" USER "\", algorithm=SHA-512", 1000), 400);
	assert_int_equal(sip_msg_parse(&m, opts, strlen(opts), 0, &err), 0);
	assert_int_equal(sip_reg_handle(c->r, &m, &c->from, 1000, &c->ans),
			 EINVAL);
	assert_int_equal(sip_reg_bindings(c->r), 0);
	assert_int_equal(c->added, 0);
}

static void t_restore_full_remove(void **st)
{
	struct ctx *c = ctx_new(2, 2);
	struct sip_reg_binding b = { .aor = "100-1101-1203",
		.contact = "sip:x@10.0.0.3", .expires = 2000, .host_at = 99,
		.host_len = 99, .port = 99 };
	const struct sip_reg_binding *got;

	*st = c;
	assert_int_equal(sip_reg_restore(c->r, &b, 2000), ESTALE);
	assert_int_equal(sip_reg_restore(c->r, &b, 1000), 0);
	/* a stored binding's host is read again from its contact, not
	 * trusted as given */
	got = sip_reg_find(c->r, "100-1101-1203", 1000);
	assert_non_null(got);
	assert_int_equal(got->host_len, 8);
	assert_memory_equal(got->contact + got->host_at, "10.0.0.3", 8);
	assert_int_equal(got->port, 0);
	assert_int_equal(sip_reg_restore(c->r, &b, 1000), 0);	/* same one */
	strcpy(b.contact, "sip:y@10.0.0.3");
	assert_int_equal(sip_reg_restore(c->r, &b, 1000), 0);
	strcpy(b.contact, "sip:z@10.0.0.3");
	assert_int_equal(sip_reg_restore(c->r, &b, 1000), ENOSPC);
	b.contact[0] = '\0';
	assert_int_equal(sip_reg_restore(c->r, &b, 1000), EINVAL);
	assert_int_equal(sip_reg_bindings(c->r), 2);
	assert_int_equal(c->added, 0);
	strcpy(b.aor, "100-1101-1204");
	strcpy(b.contact, "sip:w@10.0.0.4");
	assert_int_equal(sip_reg_restore(c->r, &b, 1000), 0);
	/* two AORs: a third is refused with 503 */
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 503);
	assert_int_equal(sip_reg_stats(c->r)->full, 1);
	assert_int_equal(sip_reg_remove_aor(c->r, "100-1101-1203"), 2);
	assert_int_equal(c->removed, 2);
	assert_int_equal(reg_auth(c, "MD5", USER, PASS, AOR, CONTACT1, 1000),
			 200);
	assert_int_equal(sip_reg_aors(c->r), 2);
}

static void t_new_bad_cfg(void **st)
{
	struct sip_reg_cfg cfg = { .realm = "dpn", .max_bindings = 9 };
	struct sip_reg *r = NULL;
	(void)st;

	assert_int_equal(sip_reg_new(&cfg, &ops, NULL, &r), EINVAL);
	cfg.max_bindings = 1;
	cfg.min_expires = 100;
	cfg.max_expires = 50;
	assert_int_equal(sip_reg_new(&cfg, &ops, NULL, &r), EINVAL);
	cfg.realm = NULL;
	assert_int_equal(sip_reg_new(&cfg, &ops, NULL, &r), EINVAL);
	assert_null(r);
	sip_reg_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_challenge, setup, teardown),
		cmocka_unit_test_setup_teardown(t_good_md5_and_sha256, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_no_user_agent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_wrong_password_and_users,
						setup, teardown),
		cmocka_unit_test_setup_teardown(t_wrong_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_expiry_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(t_one_binding_replaced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_out_of_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(t_bad_requests, setup,
						teardown),
		cmocka_unit_test_teardown(t_restore_full_remove, teardown),
		cmocka_unit_test(t_new_bad_cfg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
