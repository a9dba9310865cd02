/* lib/sip/check.c — the full syntax check of a parsed message: every header
 * an element relies on is parsed once, so that a bad message is answered
 * with a 400 that names the header and what is wrong with it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/hdr.h"

static int bad(struct sip_perr *err, const char *hdr, const char *why)
{
	snprintf(err->text, sizeof(err->text), "Bad %s: %s", hdr,
		 why ? why : "malformed");
	err->status = 400;
	err->reason = err->text;
	return EBADMSG;
}

static int check_required(const struct sip_msg *m, struct sip_perr *err)
{
	static const enum sip_hdr_id req[] = { SIP_HDR_TO, SIP_HDR_FROM,
		SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_VIA };
	static const enum sip_hdr_id once[] = { SIP_HDR_TO, SIP_HDR_FROM,
		SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_MAX_FORWARDS,
		SIP_HDR_CONTENT_TYPE, SIP_HDR_EXPIRES, SIP_HDR_DATE };
	unsigned count[SIP_HDR_COUNT] = { 0 };

	for (unsigned i = 0; i < m->nhdrs; i++)	/* one pass */
		count[m->hdrs[i].id]++;
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (!count[req[i]]) {
			snprintf(err->text, sizeof(err->text),
				 "Missing Required Header Field: %s",
				 sip_hdr_name(req[i]));
			err->status = 400;
			err->reason = err->text;
			return EBADMSG;
		}
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (count[once[i]] > 1) {
			snprintf(err->text, sizeof(err->text),
				 "Multiple %s header fields",
				 sip_hdr_name(once[i]));
			err->status = 400;
			err->reason = err->text;
			return EBADMSG;
		}
	return 0;
}

/* Apply fn to every comma-separated value of every line with `id`. */
static int each_value(const struct sip_msg *m, enum sip_hdr_id id,
		      int (*fn)(struct sip_str, const char **), const char **why)
{
	for (int i = sip_msg_hdr_find(m, id, 0); i >= 0;
	     i = sip_msg_hdr_find(m, id, (unsigned)i + 1)) {
		struct sip_str v;
		size_t pos = 0;
		int r;
		while ((r = sip_hdr_next_value(m->hdrs[i].value, &pos, &v)) == 1)
			if (fn(v, why))
				return EBADMSG;
		if (r < 0) {
			*why = "Empty or unterminated list element";
			return EBADMSG;
		}
	}
	return 0;
}

static int via_fn(struct sip_str v, const char **why)
{
	struct sip_via via;
	return sip_via_parse(v, &via, why);
}

static int addr_fn(struct sip_str v, const char **why)
{
	struct sip_addr a;
	return sip_addr_parse(v, 0, &a, why);
}

static int contact_fn(struct sip_str v, const char **why)
{
	struct sip_addr a;
	struct sip_str e;
	uint64_t x;

	if (sip_addr_parse(v, SIP_ADDR_ALLOW_STAR, &a, why))
		return EBADMSG;
	if (sip_param_find(a.params, "expires", &e) &&
	    sip_delta_parse(e, 0xffffffffULL, &x, why))
		return EBADMSG;
	return 0;
}

static int reason_fn(struct sip_str v, const char **why)
{
	struct sip_str proto, params;

	return sip_reason_parse(v, &proto, &params, why);
}

static int token_fn(struct sip_str v, const char **why)
{
	for (size_t i = 0; i < v.len; i++)
		if (!sip_is_token_char((unsigned char)v.s[i])) {
			*why = "Malformed option tag";
			return EBADMSG;
		}
	return 0;
}

static int check_lists(const struct sip_msg *m, struct sip_perr *err)
{
	static const struct {
		enum sip_hdr_id id;
		int (*fn)(struct sip_str, const char **);
	} lists[] = {
		{ SIP_HDR_VIA, via_fn }, { SIP_HDR_CONTACT, contact_fn },
		{ SIP_HDR_ROUTE, addr_fn }, { SIP_HDR_RECORD_ROUTE, addr_fn },
		{ SIP_HDR_P_ASSERTED_IDENTITY, addr_fn },
		{ SIP_HDR_SUPPORTED, token_fn }, { SIP_HDR_REQUIRE, token_fn },
		{ SIP_HDR_PROXY_REQUIRE, token_fn },
		{ SIP_HDR_UNSUPPORTED, token_fn }, { SIP_HDR_REASON, reason_fn },
	};
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (each_value(m, lists[i].id, lists[i].fn, &why))
			return bad(err, sip_hdr_name(lists[i].id), why);
	return 0;
}

static int check_single(const struct sip_msg *m, enum sip_hdr_id id,
			struct sip_str *v)
{
	int i = sip_msg_hdr_find(m, id, 0);

	if (i < 0)
		return 0;
	*v = m->hdrs[i].value;
	return 1;
}

/* with_addrs: parse To and From whole (sip_msg_check); the lean check
 * reads only their tags (sip_msg_tag), which need no URI parse. */
static int check_scalars(const struct sip_msg *m, int with_addrs,
			 struct sip_perr *err)
{
	struct sip_str v;
	struct sip_addr a;
	struct sip_cseq cs = { 0 };
	const char *why = NULL;
	unsigned mf;
	uint64_t x;

	if (with_addrs && check_single(m, SIP_HDR_TO, &v) &&
	    sip_addr_parse(v, 0, &a, &why))
		return bad(err, "To", why);
	if (with_addrs && check_single(m, SIP_HDR_FROM, &v) &&
	    sip_addr_parse(v, 0, &a, &why))
		return bad(err, "From", why);
	if (check_single(m, SIP_HDR_CALL_ID, &v) && sip_callid_check(v, &why))
		return bad(err, "Call-ID", why);
	if (check_single(m, SIP_HDR_CSEQ, &v) && sip_msg_cseq(m, &cs) &&
	    sip_cseq_parse(v, &cs, &why))	/* parsed once, kept */
		return bad(err, "CSeq", why);
	if (m->is_request && !sip_str_eq_str(cs.method_str, m->method_str))
		return bad(err, "CSeq", "method does not match Request-Line");
	if (check_single(m, SIP_HDR_MAX_FORWARDS, &v) &&
	    sip_max_forwards_parse(v, &mf, &why))
		return bad(err, "Max-Forwards", why);
	if (check_single(m, SIP_HDR_EXPIRES, &v) &&
	    sip_delta_parse(v, 0xffffffffULL, &x, &why))
		return bad(err, "Expires", why);
	if (check_single(m, SIP_HDR_DATE, &v) &&
	    (v.len < 4 || memcmp(v.s + v.len - 4, " GMT", 4) != 0))
		return bad(err, "Date", "time zone must be GMT");
	return 0;
}

static int check_auth(const struct sip_msg *m, struct sip_perr *err)
{
	static const enum sip_hdr_id ids[] = { SIP_HDR_AUTHORIZATION,
		SIP_HDR_PROXY_AUTHORIZATION, SIP_HDR_WWW_AUTHENTICATE,
		SIP_HDR_PROXY_AUTHENTICATE };
	const char *why = NULL;

	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++)
		for (int i = sip_msg_hdr_find(m, ids[k], 0); i >= 0;
		     i = sip_msg_hdr_find(m, ids[k], (unsigned)i + 1)) {
			struct sip_auth au;
			if (sip_auth_parse(m->hdrs[i].value, &au, &why))
				return bad(err, sip_hdr_name(ids[k]), why);
		}
	return 0;
}

static int check_ruri(const struct sip_msg *m, struct sip_perr *err)
{
	struct sip_uri u;
	const char *why = NULL;

	if (sip_msg_ruri(m, &u) && sip_uri_parse(m->ruri, &u, &why))
		return bad(err, "Request-URI", why);
	if (u.headers.len)
		return bad(err, "Request-URI", "headers not allowed");
	return 0;
}

int sip_msg_check(const struct sip_msg *m, struct sip_perr *err)
{
	int rc;

	if (m->is_request && (rc = check_ruri(m, err)) != 0)
		return rc;
	if ((rc = check_required(m, err)) != 0)
		return rc;
	if ((rc = check_scalars(m, 1, err)) != 0)
		return rc;
	if ((rc = check_lists(m, err)) != 0)
		return rc;
	return check_auth(m, err);
}

static int check_top_via(const struct sip_msg *m, struct sip_perr *err)
{
	int i = sip_msg_hdr_find(m, SIP_HDR_VIA, 0);
	const char *why = "Empty or unterminated list element";
	struct sip_str val;
	struct sip_via v;
	size_t pos = 0;

	if (i < 0 || sip_msg_via(m, 0, &v) == 0)
		return 0;	/* missing: check_required said so already */
	if (sip_hdr_next_value(m->hdrs[i].value, &pos, &val) != 1 ||
	    sip_via_parse(val, &v, &why))
		return bad(err, "Via", why);
	return 0;
}

/* A response is matched by its top Via and CSeq and forwarded as it is. */
static int check_response_lean(const struct sip_msg *m, struct sip_perr *err)
{
	struct sip_cseq cs;
	int rc;

	if ((rc = check_required(m, err)) != 0 ||
	    (rc = check_top_via(m, err)) != 0)
		return rc;
	return sip_msg_cseq(m, &cs) ? bad(err, "CSeq", NULL) : 0;
}

int sip_msg_check_lean(const struct sip_msg *m, struct sip_perr *err)
{
	const char *why = NULL;
	int rc;

	if (!m->is_request)
		return check_response_lean(m, err);
	if ((rc = check_ruri(m, err)) != 0 ||
	    (rc = check_required(m, err)) != 0 ||
	    (rc = check_scalars(m, 0, err)) != 0 ||
	    (rc = check_top_via(m, err)) != 0)
		return rc;
	if (each_value(m, SIP_HDR_PROXY_REQUIRE, token_fn, &why))
		return bad(err, "Proxy-Require", why);
	return 0;
}
