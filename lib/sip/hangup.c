/* lib/sip/hangup.c — the ACK and BYE for an unwanted 2xx (see hangup.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/build.h"
#include "sip/hangup.h"
#include "sip/hdr.h"

#define VAL_MAX 1024

/* The first value of header id of m, NUL-ended, into dst. 0 or EINVAL. */
static int hdr_value(const struct sip_msg *m, enum sip_hdr_id id, char *dst)
{
	int i = sip_msg_hdr_find(m, id, 0);

	if (i < 0 || m->hdrs[i].value.len >= VAL_MAX)
		return EINVAL;
	memcpy(dst, m->hdrs[i].value.s, m->hdrs[i].value.len);
	dst[m->hdrs[i].value.len] = '\0';
	return 0;
}

/* The remote target: resp's Contact URI (12.1.2), else invite's own. */
static int target(const struct sip_msg *invite, const struct sip_msg *resp,
		  char *dst)
{
	int i = sip_msg_hdr_find(resp, SIP_HDR_CONTACT, 0);
	struct sip_str v = invite->ruri;
	struct sip_addr a;
	size_t pos = 0;

	if (i >= 0) {
		if (sip_hdr_next_value(resp->hdrs[i].value, &pos, &v) != 1 ||
		    sip_addr_parse(v, 0, &a, NULL))
			return EBADMSG;
		v = a.uri_str;
	}
	if (v.len == 0 || v.len >= VAL_MAX || memchr(v.s, '\r', v.len) ||
	    memchr(v.s, '\n', v.len))
		return EBADMSG;
	memcpy(dst, v.s, v.len);
	dst[v.len] = '\0';
	return 0;
}

int sip_hangup_write(const struct sip_msg *invite, const struct sip_msg *resp,
		     enum sip_method method, const char *via,
		     const char *extra, char *dst, size_t cap, size_t *len)
{
	char ruri[VAL_MAX], from[VAL_MAX], to[VAL_MAX], cid[VAL_MAX];
	struct sip_request_spec s = { .via = via, .ruri = ruri, .from = from,
				      .to = to, .call_id = cid,
				      .extra = extra };
	struct sip_cseq cs;
	int rc;

	if ((method != SIP_ACK && method != SIP_BYE) || resp->is_request ||
	    resp->status < 200 || resp->status >= 300 || !via)
		return EINVAL;
	if ((rc = target(invite, resp, ruri)) != 0)
		return rc;
	if (hdr_value(invite, SIP_HDR_FROM, from) ||
	    hdr_value(resp, SIP_HDR_TO, to) ||
	    hdr_value(invite, SIP_HDR_CALL_ID, cid) ||
	    sip_msg_cseq(invite, &cs))
		return EINVAL;
	s.method = sip_method_name(method);
	s.cseq = method == SIP_ACK ? cs.num : cs.num + 1;
	return sip_request_write(&s, dst, cap, len);
}
