/* tests/unit/test_sip_digest.c — Digest: the RFC 7616 section 3.9.1
 * example (MD5 and SHA-256), a server challenge answered by the client,
 * wrong password, forged and expired nonces, replayed nonce-counts, and
 * malformed credentials. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "sip/digest.h"
#include "sip_testutil.h"

static void rfc7616_case(const char *alg, const char *want)
{
	char chal[512], out[1024];
	struct sip_auth a, ans;
	struct sip_str v;
	size_t n;

	snprintf(chal, sizeof(chal), "Digest realm=\"http-auth@example.org\", "
		 "qop=\"auth, auth-int\", algorithm=%s, "
		 "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		 "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"", alg);
	assert_int_equal(sip_auth_parse((struct sip_str){ chal, strlen(chal) },
					&a, NULL), 0);
	assert_int_equal(sip_digest_answer(&a, "Mufasa", "Circle of Life",
		SIP_STR("GET"), SIP_STR("/dir/index.html"), 1,
		"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", out,
		sizeof(out), &n), 0);
	assert_int_equal(sip_auth_parse((struct sip_str){ out, n }, &ans, NULL), 0);
	assert_true(sip_auth_param(&ans, "response", &v));
	assert_slice(v, want);
	assert_true(sip_auth_param(&ans, "opaque", &v));
	assert_slice(v, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
	assert_true(sip_auth_param(&ans, "nc", &v));
	assert_slice(v, "00000001");
}

static void t_rfc7616_vectors(void **st)
{
	(void)st;
	rfc7616_case("MD5", "8ca523f5e9506fed4657c9700eebdbec");
	rfc7616_case("SHA-256", "753927fa0e85d155564e2e272a28d180"
		     "2ca10daf4496794697cf8db5856cb6c1");
}

/* Challenge at `t_chal`, answer with password and nc, verify at `t_ver`. */
static int round_trip(struct sip_digest_server *s, enum sip_digest_alg alg,
		      const char *password, uint32_t nc, uint64_t t_chal,
		      uint64_t t_ver, const char *uri, char *cred, size_t *clen)
{
	char chal[512], ha1[SIP_DIGEST_HEX];
	struct sip_auth a, c;
	size_t n;

	assert_int_equal(sip_digest_challenge(s, alg, t_chal, 0, chal,
					      sizeof(chal), &n), 0);
	assert_int_equal(sip_auth_parse((struct sip_str){ chal, n }, &a, NULL), 0);
	assert_int_equal(sip_digest_answer(&a, "100-1101-1201-1", password,
		SIP_STR("REGISTER"), (struct sip_str){ uri, strlen(uri) }, nc,
		"c0ffee", cred, 1024, clen), 0);
	assert_int_equal(sip_auth_parse((struct sip_str){ cred, *clen }, &c,
					NULL), 0);
	assert_int_equal(sip_digest_ha1(alg, "100-1101-1201-1", "dpn.test",
					"s3cret", ha1), 0);
	return sip_digest_verify(s, &c, SIP_STR("REGISTER"),
				 SIP_STR("sip:dpn.test"), ha1, t_ver);
}

static void t_server_round_trips(void **st)
{
	struct sip_digest_server *s;
	char cred[1024];
	size_t n;
	(void)st;

	assert_int_equal(sip_digest_server_new("dpn.test", 60, &s), 0);
	assert_int_equal(round_trip(s, SIP_DIGEST_MD5, "s3cret", 1, 1000, 1010,
				    "sip:dpn.test", cred, &n), 0);
	assert_int_equal(round_trip(s, SIP_DIGEST_SHA256, "s3cret", 1, 1001,
				    1010, "sip:dpn.test", cred, &n), 0);
	assert_int_equal(round_trip(s, SIP_DIGEST_MD5, "wrong", 1, 1002, 1010,
				    "sip:dpn.test", cred, &n), EACCES);
	assert_int_equal(round_trip(s, SIP_DIGEST_MD5, "s3cret", 1, 1003, 1064,
				    "sip:dpn.test", cred, &n), ESTALE);
	assert_int_equal(round_trip(s, SIP_DIGEST_MD5, "s3cret", 1, 1004, 1010,
				    "sip:other", cred, &n), EBADMSG);
	sip_digest_server_free(s);
}

/* Two clients challenged in the same second (a power cut: every gateway
 * registers at once) each answer nc=1: both must pass (they once shared
 * a nonce, and the second was taken for a replay). */
static void t_same_second_clients(void **st)
{
	struct sip_digest_server *s;
	char cred[1024];
	size_t n;
	(void)st;

	assert_int_equal(sip_digest_server_new("dpn.test", 60, &s), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(round_trip(s, SIP_DIGEST_MD5, "s3cret", 1,
			1000, 1000, "sip:dpn.test", cred, &n), 0);
	sip_digest_server_free(s);
}

static void t_replay(void **st)
{
	struct sip_digest_server *s;
	char chal[512], ha1[SIP_DIGEST_HEX], cred[1024];
	struct sip_auth a, c;
	size_t n;
	(void)st;

	assert_int_equal(sip_digest_server_new("dpn.test", 60, &s), 0);
	assert_int_equal(sip_digest_ha1(SIP_DIGEST_MD5, "100-1101-1201-1",
					"dpn.test", "s3cret", ha1), 0);
	assert_int_equal(sip_digest_challenge(s, SIP_DIGEST_MD5, 500, 0, chal,
					      sizeof(chal), &n), 0);
	assert_int_equal(sip_auth_parse((struct sip_str){ chal, n }, &a, NULL), 0);
	for (uint32_t nc = 1; nc <= 3; nc++) {
		assert_int_equal(sip_digest_answer(&a, "100-1101-1201-1",
			"s3cret", SIP_STR("REGISTER"), SIP_STR("sip:dpn.test"),
			nc, "abc", cred, sizeof(cred), &n), 0);
		sip_auth_parse((struct sip_str){ cred, n }, &c, NULL);
		assert_int_equal(sip_digest_verify(s, &c, SIP_STR("REGISTER"),
			SIP_STR("sip:dpn.test"), ha1, 501), 0);
		/* the same credentials again: a replay */
		assert_int_equal(sip_digest_verify(s, &c, SIP_STR("REGISTER"),
			SIP_STR("sip:dpn.test"), ha1, 501), EALREADY);
	}
	sip_digest_server_free(s);
}

static void t_forged_and_malformed(void **st)
{
	static const char *const bad[] = {
		/* nonce not ours */
		"Digest username=\"u\", realm=\"dpn.test\", nonce=\"0000000000000"
		"1f400000000000000000000000000000000\", uri=\"sip:dpn.test\", "
		"response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"",
		/* no qop (RFC 2069 style): refused */
		"Digest username=\"u\", realm=\"dpn.test\", nonce=\"n\", "
		"uri=\"sip:dpn.test\", response=\"00\"",
		/* bad nc */
		"Digest username=\"u\", realm=\"dpn.test\", nonce=\"n\", "
		"uri=\"sip:dpn.test\", response=\"0\", qop=auth, nc=1, cnonce=\"x\"",
		/* other realm */
		"Digest username=\"u\", realm=\"evil\", nonce=\"n\", uri=\"sip:dpn.test\""
		", response=\"0\", qop=auth, nc=00000001, cnonce=\"x\"",
		/* unknown algorithm */
		"Digest username=\"u\", realm=\"dpn.test\", nonce=\"n\", uri=\"sip:"
		"dpn.test\", response=\"0\", qop=auth, nc=00000001, cnonce=\"x\", "
		"algorithm=SHA-512-256",
		"Basic dXNlcjpwYXNz",
	};
	static const int want[] = { EACCES, EBADMSG, EACCES, EBADMSG, EBADMSG,
				    EBADMSG };
	struct sip_digest_server *s;
	struct sip_auth c;
	char ha1[SIP_DIGEST_HEX];
	(void)st;

	assert_int_equal(sip_digest_server_new("dpn.test", 60, &s), 0);
	sip_digest_ha1(SIP_DIGEST_MD5, "u", "dpn.test", "p", ha1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;
		assert_int_equal(sip_auth_parse((struct sip_str){ bad[i],
			strlen(bad[i]) }, &c, NULL), 0);
		rc = sip_digest_verify(s, &c, SIP_STR("REGISTER"),
				       SIP_STR("sip:dpn.test"), ha1, 500);
		if (rc != want[i])
			fail_msg("case %zu: %d want %d", i, rc, want[i]);
	}
	sip_digest_server_free(s);
	assert_int_equal(sip_digest_server_new("bad\"realm", 60, &s), EINVAL);
	sip_digest_server_free(NULL);
}

static void t_challenge_text(void **st)
{
	struct sip_digest_server *s;
	char chal[512];
	size_t n;
	struct sip_auth a;
	struct sip_str v;
	(void)st;

	assert_int_equal(sip_digest_server_new("dpn.test", 60, &s), 0);
	assert_int_equal(sip_digest_challenge(s, SIP_DIGEST_SHA256, 9, 1, chal,
					      sizeof(chal), &n), 0);
	assert_int_equal(sip_auth_parse((struct sip_str){ chal, n }, &a, NULL), 0);
	assert_slice(a.scheme, "Digest");
	assert_true(sip_auth_param(&a, "algorithm", &v));
	assert_slice(v, "SHA-256");
	assert_true(sip_auth_param(&a, "stale", &v));
	assert_slice(v, "true");
	assert_true(sip_auth_param(&a, "qop", &v));
	assert_slice(v, "auth");
	assert_int_equal(sip_digest_challenge(s, SIP_DIGEST_MD5, 9, 0, chal, 10,
					      &n), ENOSPC);
	sip_digest_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_rfc7616_vectors),
		cmocka_unit_test(t_server_round_trips),
		cmocka_unit_test(t_same_second_clients),
		cmocka_unit_test(t_replay),
		cmocka_unit_test(t_forged_and_malformed),
		cmocka_unit_test(t_challenge_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
