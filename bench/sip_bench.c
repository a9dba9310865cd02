/* bench/sip_bench.c — lib/sip throughput on one core: parses of a typical
 * INVITE, and parse + proxy rewrite (add Via and Record-Route, rewrite the
 * Request-URI, decrement Max-Forwards) + serialise.
 *
 *   sip_bench parse|check|proxy [count]   count messages, print msg/s
 *
 * check = parse + sip_msg_check (all headers' values parsed).
 *
 * Loopback-free: everything happens in memory. With a count the run is
 * fixed-size (for callgrind); without, it runs about 2 seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/msg.h"
#include "sip/hdr.h"
#include "sip/proxy.h"

static const char invite[] =
	"INVITE sip:100-1101-1201-1@dpn.test;user=phone SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776asdhds;rport\r\n"
	"Max-Forwards: 70\r\n"
	"To: <sip:100-1101-1201-1@dpn.test>\r\n"
	"From: \"Alice\" <sip:alice@127.0.0.1>;tag=1928301774\r\n"
	"Call-ID: a84b4c76e66710@127.0.0.1\r\n"
	"CSeq: 314159 INVITE\r\n"
	"Contact: <sip:alice@127.0.0.1:5062>\r\n"
	"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY\r\n"
	"Supported: replaces, timer\r\n"
	"User-Agent: dpn-bench/1.0\r\n"
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

static int one_parse(void)
{
	struct sip_msg m;
	struct sip_perr e;

	if (sip_msg_parse(&m, invite, sizeof(invite) - 1, 0, &e))
		return 1;
	sink += m.nhdrs;
	return 0;
}

/* Parse plus the full header check (every value parsed once). */
static int one_check(void)
{
	struct sip_msg m;
	struct sip_perr e;

	if (sip_msg_parse(&m, invite, sizeof(invite) - 1, 0, &e) ||
	    sip_msg_check(&m, &e))
		return 1;
	sink += m.nhdrs;
	return 0;
}

/* What a proxy does to every request it forwards. */
static int one_proxy(void)
{
	static char out[4096];
	struct sip_msg m;
	struct sip_perr e;
	char via[128];
	size_t n;
	int k, rc;

	if (sip_msg_parse(&m, invite, sizeof(invite) - 1, 0, &e))
		return 1;
	k = snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.5:5060;branch=");
	rc = sip_proxy_branch(&m, via + k, sizeof(via) - (size_t)k) ||
	     sip_msg_hdr_insert(&m, 0, SIP_HDR_VIA, NULL, via, strlen(via)) ||
	     sip_msg_hdr_insert(&m, 1, SIP_HDR_RECORD_ROUTE, NULL,
				"<sip:127.0.0.5;lr>", 18) ||
	     sip_msg_set_ruri(&m, "sip:h1@127.0.0.7:5080", 21) ||
	     sip_proxy_dec_max_forwards(&m) ||
	     sip_msg_serialize(&m, out, sizeof(out), &n);
	sink += n;
	sip_msg_release(&m);
	return rc;
}

int main(int argc, char **argv)
{
	int (*fn)(void);
	long count = argc > 2 ? atol(argv[2]) : -1, done = 0;
	double t0, t;

	if (argc < 2) {
		fprintf(stderr, "usage: sip_bench parse|check|proxy [count]\n");
		return 2;
	}
	if (strcmp(argv[1], "parse") == 0)
		fn = one_parse;
	else if (strcmp(argv[1], "check") == 0)
		fn = one_check;
	else if (strcmp(argv[1], "proxy") == 0)
		fn = one_proxy;
	else
		return 2;
	t0 = now_s();
	if (count >= 0) {
		for (; done < count; done++)
			if (fn())
				return 1;
	} else {
		while (now_s() - t0 < 2.0) {
			for (int i = 0; i < 10000; i++)
				if (fn())
					return 1;
			done += 10000;
		}
	}
	t = now_s() - t0;
	printf("%s: %ld messages in %.3f s = %.0f msg/s (%zu bytes each)\n",
	       argv[1], done, t, t > 0 ? (double)done / t : 0.0,
	       sizeof(invite) - 1);
	return 0;
}
