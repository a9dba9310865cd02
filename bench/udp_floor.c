/* bench/udp_floor.c — the kernel's share of a UDP SIP proxy's work: a relay
 * that does nothing but move each datagram on (blocking recvfrom, one
 * sendto), with no parsing, no state and no timers. Between a sipp UAC and
 * a sipp UAS it carries a call's 5 messages each way that need no proxy
 * answer (INVITE, ACK, BYE one way; the two 200s back; no 100 Trying), so
 * its CPU per call is a floor for any element on the same path: what the
 * socket layer costs before a single SIP byte is looked at
 * (bench/sip_vs_kamailio.py floor).
 *
 *   udp_floor -l PORT -t UAS_PORT      (127.0.0.1 both; stops on SIGTERM)
 *
 * Datagrams from the UAS go to the last address that was not the UAS. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int bind_port(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a))) {
		perror("udp_floor: bind");
		exit(1);
	}
	return s;
}

int main(int argc, char **argv)
{
	struct sockaddr_in uas = { .sin_family = AF_INET }, uac = { 0 }, from;
	struct sigaction sa = { .sa_handler = on_term };
	unsigned lport = 0, tport = 0;
	static char buf[65536];
	int s, o;

	while ((o = getopt(argc, argv, "l:t:")) != -1) {
		if (o == 'l')
			lport = (unsigned)atoi(optarg);
		else if (o == 't')
			tport = (unsigned)atoi(optarg);
	}
	if (!lport || !tport) {
		fprintf(stderr, "usage: udp_floor -l PORT -t UAS_PORT\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);	/* no SA_RESTART: recvfrom ends */
	uas.sin_port = htons((uint16_t)tport);
	uas.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = bind_port(lport);
	while (!stop) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &fl);
		int back;

		if (n <= 0)
			continue;
		back = from.sin_port == uas.sin_port &&
		       from.sin_addr.s_addr == uas.sin_addr.s_addr;
		if (!back)
			uac = from;
		if (back && !uac.sin_port)
			continue;
		sendto(s, buf, (size_t)n, 0, (struct sockaddr *)(back ? &uac :
		       &uas), sizeof(uas));
	}
	close(s);
	return 0;
}
