/* tests/sip/fuzz_parse.c — libFuzzer target for the SIP parser and what
 * reads its output: datagram and stream parsing, the full header check,
 * every value parser, the proxy helpers, editing and serialising (the
 * result must parse again), stream framing, SDP, and the SDP of a
 * multipart body (replaced before the message is written again). Any crash, sanitizer
 * report, or a serialised message that no longer parses is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/build.h"
#include "sip/hdr.h"
#include "sip/msg.h"
#include "sip/multipart.h"
#include "sip/proxy.h"
#include "sip/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void values(const struct sip_msg *m)
{
	for (unsigned i = 0; i < m->nhdrs; i++) {
		struct sip_str v;
		size_t pos = 0;
		union { struct sip_via via; struct sip_addr a;
			struct sip_cseq c; struct sip_auth au; } u;
		while (sip_hdr_next_value(m->hdrs[i].value, &pos, &v) == 1) {
			sip_via_parse(v, &u.via, NULL);
			sip_addr_parse(v, SIP_ADDR_ALLOW_STAR, &u.a, NULL);
		}
		sip_cseq_parse(m->hdrs[i].value, &u.c, NULL);
		if (sip_auth_parse(m->hdrs[i].value, &u.au, NULL) == 0)
			sip_auth_param(&u.au, "nonce", &v);
	}
}

static void edit_and_reparse(struct sip_msg *m)
{
	static const char *const sup[] = { "path", NULL };
	struct sip_proxy_self self = { "127.0.0.1", 5060, sup };
	static char out[SIP_MAX_MSG + 4096];	/* static: cheap under ASan */
	char branch[SIP_BRANCH_LEN];
	struct sip_msg r;
	struct sip_perr e;
	struct sip_tsx_key k;
	const char *why;
	size_t n;

	sip_proxy_check_request(m, &self, &why);
	sip_tsx_key(m, 0, &k);
	if (m->is_request) {
		sip_response_write(m, 400, "x", "t", NULL, (struct sip_str){ 0 },
				   out, sizeof(out), &n);
		if (sip_proxy_branch(m, branch, sizeof(branch)) == 0)
			sip_msg_hdr_insert(m, 0, SIP_HDR_VIA, NULL, branch,
					   strlen(branch));
		sip_proxy_dec_max_forwards(m);
		sip_msg_set_ruri(m, "sip:x@127.0.0.1", 15);
	}
	if (m->nhdrs)
		sip_msg_hdr_del_first_value(m, 0);
	/* Our own output must frame and parse; a 400 (a value we copied)
	 * or a 513 (SIP_MAX_HDRS lines plus the Content-Length that
	 * serialising adds) is the input's fault, not ours. */
	if (sip_msg_serialize(m, out, sizeof(out), &n) == 0 &&
	    n <= SIP_MAX_MSG &&
	    sip_msg_parse(&r, out, n, SIP_PARSE_STREAM, &e) != 0 &&
	    e.status != 400 && e.status != 513)
		abort();
}

static void stream(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct sip_frame f;

	while (size && sip_frame(p, size, 4096, &f) == 0) {
		if (f.kind == SIP_FRAME_MSG) {
			struct sip_msg m;
			struct sip_perr e;
			sip_msg_parse(&m, p, f.len, SIP_PARSE_STREAM, &e);
		}
		p += f.len;
		size -= f.len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_msg m;
	struct sip_perr e;
	struct sip_sdp sdp;
	struct sip_str sdp_body;
	struct sip_uri u;
	char *copy = malloc(size ? size : 1);	/* exact size: ASan sees overreads */

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (sip_msg_parse(&m, copy, size, 0, &e) == 0) {
		sip_msg_check(&m, &e);
		values(&m);
		sip_uri_parse(m.ruri, &u, NULL);
		sip_sdp_parse(m.body, &sdp);
		if (sip_msg_sdp(&m, &sdp_body, NULL) == 0)
			sip_msg_set_sdp(&m, "v=0\r\n", 5);
		edit_and_reparse(&m);
		sip_msg_release(&m);
	}
	stream(data, size);
	free(copy);
	return 0;
}
