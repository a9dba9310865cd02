/* bench/rtp_load.c — the RTP endpoints of many calls at once, for the
 * concurrency figure of issue 11 (bench/gk_media.py sets the calls up with
 * SIP and hands the media addresses over). Loopback only; bounded in time
 * (--seconds) and count (MAX_STREAMS).
 *
 *   rtp_load [--seconds S] [--ptime MS] [--drain MS] < STREAMS
 *
 * STREAMS has one stream a line: "LOCAL_IP:PORT REMOTE_IP:PORT" (both ends
 * of every call, so that what one stream sends another receives). Streams
 * with the same local address share one socket. Every --ptime ms (20) each
 * stream sends one RTP packet (PCMU, 160 bytes of payload, its own SSRC,
 * seq and timestamp) to its remote address: one sender thread, paced with
 * clock_nanosleep(TIMER_ABSTIME), sendmmsg per socket. One receiver thread
 * (epoll, recvmmsg) finds a packet's stream by its source address (RTP is
 * symmetric: the relay sends from where it receives) and counts it;
 * losses by sequence number per stream. After the last tick the receiver
 * goes on for --drain ms (500), then one JSON object goes to stdout:
 *
 *   streams, sockets, seconds (wall time of the sending), ticks,
 *   late_ticks (ticks started more than one ptime after they were due:
 *   this program fell behind), max_late_ms, send_busy (share of the wall
 *   time the sender spent sending), sent, send_errors, received, lost
 *   (sent - received), lost_seq (gaps in sequence numbers), lost_ends
 *   (missing before a stream's first or after its last packet received,
 *   every stream sending as many packets as the others; lost_head and
 *   lost_tail: the same before the first and after the last, the sender
 *   known by its SSRC, which a relay keeps), short_streams
 *   (streams that lost some there), reordered,
 *   unknown (packets from no stream's remote address), silent_streams
 *   (received nothing), rx_overflow (packets the kernel dropped on our
 *   sockets' full buffers: our loss, not the relay's), cpu_send_s,
 *   cpu_recv_s, cpu_s (this process), wait_send_s and wait_recv_s (time
 *   each thread was ready to run but had no CPU: the machine's limit).
 *
 * Exit 0 after a run, 2 on bad input or arguments, 1 when a socket cannot
 * be set up. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define MAX_STREAMS 10000       /* 5,000 calls, two ends each */
#define MAX_SECONDS 3600
#define PAYLOAD 160             /* PCMU, 20 ms at 8 kHz */
#define BATCH 64                /* messages per sendmmsg / recvmmsg */
#define RCVBUF (8 << 20)

static uint8_t payload[PAYLOAD];        /* 0xff: PCMU silence */

struct stream {
	struct sockaddr_in local, remote;
	int sock;               /* index into the socket table */
	size_t line;            /* order in the input */
	uint32_t ssrc;          /* ssrc_base + its index: its sender found */
	uint16_t seq0;          /* its first sequence number */
	struct stream *peer;    /* whose packets it receives (by SSRC) */
	uint16_t seq;
	uint64_t sent, send_errors;
	/* receiver side (the receiver thread only) */
	uint64_t received, reordered;
	uint32_t base, max;     /* extended sequence numbers */
	struct stream *next;    /* hash chain by remote address */
};

struct sock {
	int fd;
	struct sockaddr_in local;
	uint32_t overflow;      /* SO_RXQ_OVFL: drops on its buffer so far */
	size_t streams;
	int connected;          /* one stream: connect()ed to its remote */
};

static struct {
	struct stream *st;
	size_t n;
	struct sock *so;
	size_t nso;
	struct stream **hash;
	size_t hsize;
	int ep;
	double seconds;
	long ptime_ms, drain_ms;
	atomic_int stop;
	/* sender results */
	uint64_t ticks, late_ticks;
	double max_late, busy, wall, cpu_send, cpu_recv, wait_send, wait_recv;
	uint64_t unknown;
	uint32_t ssrc_base;
} g = { .seconds = 30, .ptime_ms = 20, .drain_ms = 500 };

static double ts_s(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ts_s(&t);
}

static double thread_cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return ts_s(&t);
}

/* Seconds the calling thread spent runnable but waiting for a CPU
 * (/proc/thread-self/schedstat, second field); 0 when unknown. */
static double thread_wait_s(void)
{
	unsigned long long run, wait;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "%llu %llu", &run, &wait) == 2;
	fclose(f);
	return ok ? wait / 1e9 : 0;
}

/* "A.B.C.D:PORT" in 127.0.0.0/8 into *out; 0 or EINVAL. */
static int parse_addr(const char *s, struct sockaddr_in *out)
{
	char ip[32];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || colon - s >= (long)sizeof ip)
		return EINVAL;
	memcpy(ip, s, colon - s);
	ip[colon - s] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return EINVAL;
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &out->sin_addr) != 1)
		return EINVAL;
	if ((ntohl(out->sin_addr.s_addr) >> 24) != 127)
		return EINVAL;   /* loopback only */
	return 0;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static size_t addr_hash(const struct sockaddr_in *a)
{
	return ((size_t)a->sin_addr.s_addr * 2654435761u ^ a->sin_port) % g.hsize;
}

static struct stream *by_remote(const struct sockaddr_in *a)
{
	struct stream *s;

	for (s = g.hash[addr_hash(a)]; s; s = s->next)
		if (same_addr(&s->remote, a))
			return s;
	return NULL;
}

/* Reads STREAMS from f into g.st; 0 or EINVAL (message on stderr). */
static int read_streams(FILE *f)
{
	char line[256], l[64], r[64];
	size_t lineno = 0;

	g.st = calloc(MAX_STREAMS, sizeof *g.st);
	if (!g.st)
		return ENOMEM;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (line[strspn(line, " \t\r\n")] == 0 || line[0] == '#')
			continue;
		if (g.n == MAX_STREAMS) {
			fprintf(stderr, "rtp_load: more than %d streams\n", MAX_STREAMS);
			return EINVAL;
		}
		if (sscanf(line, "%63s %63s", l, r) != 2 ||
		    parse_addr(l, &g.st[g.n].local) || parse_addr(r, &g.st[g.n].remote)) {
			fprintf(stderr, "rtp_load: line %zu: want LOCAL_IP:PORT "
				"REMOTE_IP:PORT, both in 127.0.0.0/8\n", lineno);
			return EINVAL;
		}
		g.st[g.n].line = g.n;
		g.n++;
	}
	if (g.n == 0) {
		fprintf(stderr, "rtp_load: no streams\n");
		return EINVAL;
	}
	return 0;
}

/* Every remote address into the hash; EINVAL when two streams share one
 * (their packets could not be told apart). */
static int index_streams(void)
{
	size_t i;

	g.ssrc_base = (uint32_t)random();
	g.hsize = g.n * 2 + 1;
	g.hash = calloc(g.hsize, sizeof *g.hash);
	if (!g.hash)
		return ENOMEM;
	for (i = 0; i < g.n; i++) {
		struct stream *s = &g.st[i];
		size_t h = addr_hash(&s->remote);

		if (by_remote(&s->remote)) {
			fprintf(stderr, "rtp_load: stream %zu: remote %s:%d twice\n", i + 1,
				inet_ntoa(s->remote.sin_addr), ntohs(s->remote.sin_port));
			return EINVAL;
		}
		s->next = g.hash[h];
		g.hash[h] = s;
		s->ssrc = g.ssrc_base + (uint32_t)i;
		s->seq = s->seq0 = (uint16_t)random();
	}
	return 0;
}

/* One UDP socket bound to a, large receive buffer, drop counter on,
 * registered with epoll (data: its index); the fd, or -1 (message). */
static int open_sock(const struct sockaddr_in *a, size_t idx)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, buf = RCVBUF;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = idx };

	if (fd < 0)
		goto fail;
	/* FORCE passes rmem_max as root; otherwise the plain one, capped */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)a, sizeof *a) ||
	    epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev))
		goto fail;
	return fd;
fail:
	fprintf(stderr, "rtp_load: socket on %s:%d: %s\n", inet_ntoa(a->sin_addr),
		ntohs(a->sin_port), strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A socket of one stream is connected to its remote: the kernel keeps
 * the route, a send costs less (and receives only from there). */
static int connect_socks(void)
{
	size_t i;

	for (i = 0; i < g.n; i++) {
		struct sock *so = &g.so[g.st[i].sock];

		if (so->streams != 1)
			continue;
		if (connect(so->fd, (const struct sockaddr *)&g.st[i].remote,
			    sizeof g.st[i].remote)) {
			fprintf(stderr, "rtp_load: connect: %s\n", strerror(errno));
			return EIO;
		}
		so->connected = 1;
	}
	return 0;
}

/* A socket for each distinct local address (the streams are sorted by
 * it: a run of streams shares one). */
static int open_socks(void)
{
	size_t i;

	g.so = calloc(g.n, sizeof *g.so);
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!g.so || g.ep < 0)
		return ENOMEM;
	for (i = 0; i < g.n; i++) {
		struct stream *s = &g.st[i];

		if (i > 0 && same_addr(&g.st[i - 1].local, &s->local)) {
			s->sock = g.st[i - 1].sock;
			g.so[s->sock].streams++;
			continue;
		}
		g.so[g.nso].local = s->local;
		g.so[g.nso].fd = open_sock(&s->local, g.nso);
		if (g.so[g.nso].fd < 0)
			return EIO;
		g.so[g.nso].streams = 1;
		s->sock = g.nso++;
	}
	return connect_socks();
}

/* Room for every socket in the file-descriptor limit (raised to the hard
 * limit); 0 or EMFILE. */
static int fd_room(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return errno;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < g.n + 32) {
		fprintf(stderr, "rtp_load: %zu streams need %zu file descriptors, "
			"the limit is %llu\n", g.n, g.n + 32, (unsigned long long)rl.rlim_cur);
		return EMFILE;
	}
	return 0;
}

static int by_local(const void *a, const void *b)
{
	const struct stream *x = a, *y = b;
	uint32_t xa = ntohl(x->local.sin_addr.s_addr), ya = ntohl(y->local.sin_addr.s_addr);
	uint16_t xp = ntohs(x->local.sin_port), yp = ntohs(y->local.sin_port);

	if (xa != ya)
		return xa < ya ? -1 : 1;
	if (xp != yp)
		return xp < yp ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void rtp_header(struct stream *s, uint8_t h[12], uint64_t tick)
{
	uint32_t ts = (uint32_t)(tick * PAYLOAD), ssrc = htonl(s->ssrc);
	uint16_t seq = htons(s->seq);

	h[0] = 0x80;
	h[1] = tick == 0 ? 0x80 : 0;    /* marker on the first packet; PT 0 */
	memcpy(h + 2, &seq, 2);
	ts = htonl(ts);
	memcpy(h + 4, &ts, 4);
	memcpy(h + 8, &ssrc, 4);
}

/* One packet from each stream in [from, to) (one socket): sendmmsg in
 * batches of BATCH. */
static void send_run(size_t from, size_t to, uint64_t tick)
{
	static uint8_t hdr[BATCH][12];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH][2];
	int fd = g.so[g.st[from].sock].fd, conn = g.so[g.st[from].sock].connected;

	while (from < to) {
		size_t k, n = to - from < BATCH ? to - from : BATCH;
		int sent;

		memset(m, 0, sizeof m[0] * n);
		for (k = 0; k < n; k++) {
			struct stream *s = &g.st[from + k];

			rtp_header(s, hdr[k], tick);
			iov[k][0] = (struct iovec){ hdr[k], 12 };
			iov[k][1] = (struct iovec){ payload, PAYLOAD };
			m[k].msg_hdr.msg_iov = iov[k];
			m[k].msg_hdr.msg_iovlen = 2;
			if (!conn) {
				m[k].msg_hdr.msg_name = &s->remote;
				m[k].msg_hdr.msg_namelen = sizeof s->remote;
			}
		}
		sent = sendmmsg(fd, m, n, 0);
		if (sent < 0)
			sent = 0;
		for (k = 0; k < n; k++) {
			struct stream *s = &g.st[from + k];

			s->seq++;
			if ((int)k < sent)
				s->sent++;
			else
				s->send_errors++;
		}
		from += n;
	}
}

/* One tick: a packet on every stream, a run of streams per socket. */
static void send_tick(uint64_t tick)
{
	size_t i = 0, j;

	while (i < g.n) {
		for (j = i + 1; j < g.n && g.st[j].sock == g.st[i].sock; j++)
			;
		send_run(i, j, tick);
		i = j;
	}
}

static void *sender(void *arg)
{
	struct timespec start, due;
	uint64_t tick, ticks = (uint64_t)(g.seconds * 1000 / g.ptime_ms);
	long step = g.ptime_ms * 1000000L;
	double t0, late, busy = 0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &start);
	due = start;
	t0 = ts_s(&start);
	for (tick = 0; tick < ticks; tick++) {
		double a;

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
		a = now_s();
		late = a - ts_s(&due);
		if (late > g.max_late)
			g.max_late = late;
		if (late * 1000 > g.ptime_ms)
			g.late_ticks++;
		send_tick(tick);
		busy += now_s() - a;
		due.tv_nsec += step;
		while (due.tv_nsec >= 1000000000L) {
			due.tv_nsec -= 1000000000L;
			due.tv_sec++;
		}
	}
	g.ticks = ticks;
	g.wall = now_s() - t0;
	g.busy = busy;
	g.cpu_send = thread_cpu_s();
	g.wait_send = thread_wait_s();
	return NULL;
}

/* Sequence number seq from SSRC ssrc arrived on s (RFC 3550 A.1,
 * without probation). */
static void count_seq(struct stream *s, uint16_t seq, uint32_t ssrc)
{
	uint16_t d = (uint16_t)(seq - (uint16_t)s->max);

	if (s->received++ == 0) {
		s->base = s->max = seq;
		if (ssrc - g.ssrc_base < g.n)
			s->peer = &g.st[ssrc - g.ssrc_base];
		return;
	}
	if (d != 0 && d < 0x8000)
		s->max += d;
	else
		s->reordered++;
}

static void overflow_of(struct msghdr *h, struct sock *so)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
			memcpy(&so->overflow, CMSG_DATA(c), sizeof so->overflow);
}

/* Everything waiting on socket so, counted. */
static void drain(struct sock *so)
{
	static uint8_t buf[BATCH][256];
	static char ctl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	int k, n;

	do {
		memset(m, 0, sizeof m);
		for (k = 0; k < BATCH; k++) {
			iov[k] = (struct iovec){ buf[k], sizeof buf[k] };
			m[k].msg_hdr = (struct msghdr){ .msg_name = &from[k],
				.msg_namelen = sizeof from[k], .msg_iov = &iov[k],
				.msg_iovlen = 1, .msg_control = ctl[k],
				.msg_controllen = sizeof ctl[k] };
		}
		n = recvmmsg(so->fd, m, BATCH, MSG_DONTWAIT, NULL);
		for (k = 0; k < n; k++) {
			struct stream *s = by_remote(&from[k]);

			overflow_of(&m[k].msg_hdr, so);
			if (!s || m[k].msg_len < 12 || (buf[k][0] & 0xc0) != 0x80) {
				g.unknown++;
				continue;
			}
			count_seq(s, (uint16_t)(buf[k][2] << 8 | buf[k][3]),
				  (uint32_t)buf[k][8] << 24 | (uint32_t)buf[k][9] << 16 |
				  (uint32_t)buf[k][10] << 8 | buf[k][11]);
		}
	} while (n == BATCH);
}

static void *receiver(void *arg)
{
	struct epoll_event ev[256];

	(void)arg;
	while (!atomic_load(&g.stop)) {
		int i, n = epoll_wait(g.ep, ev, 256, 50);

		for (i = 0; i < n; i++)
			drain(&g.so[ev[i].data.u64]);
	}
	g.cpu_recv = thread_cpu_s();
	g.wait_recv = thread_wait_s();
	return NULL;
}

static void report(void)
{
	uint64_t sent = 0, errs = 0, got = 0, lost_seq = 0, reord = 0, silent = 0, ovf = 0;
	uint64_t span = 0, short_st = 0, head = 0, tail = 0;
	struct rusage ru;
	size_t i;

	for (i = 0; i < g.n; i++) {
		struct stream *s = &g.st[i];

		sent += s->sent;
		errs += s->send_errors;
		got += s->received;
		reord += s->reordered;
		if (!s->received) {
			silent++;
			continue;
		}
		span += s->max - s->base + 1;
		if (s->max - s->base + 1 < g.ticks)
			short_st++;
		if (s->peer) {  /* before its first, after its last packet */
			uint16_t h = (uint16_t)((uint16_t)s->base - s->peer->seq0);

			head += h;
			if (s->peer->sent > h + (s->max - s->base + 1))
				tail += s->peer->sent - h - (s->max - s->base + 1);
		}
		if (s->max - s->base + 1 > s->received)
			lost_seq += s->max - s->base + 1 - s->received;
	}
	for (i = 0; i < g.nso; i++)
		ovf += g.so[i].overflow;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"streams\": %zu, \"sockets\": %zu, \"seconds\": %.3f, \"ticks\": %llu, "
	       "\"late_ticks\": %llu, \"max_late_ms\": %.2f, \"send_busy\": %.3f, "
	       "\"sent\": %llu, \"send_errors\": %llu, \"received\": %llu, "
	       "\"lost\": %lld, \"lost_seq\": %llu, \"lost_ends\": %lld, "
	       "\"lost_head\": %llu, \"lost_tail\": %llu, "
	       "\"short_streams\": %llu, \"reordered\": %llu, "
	       "\"unknown\": %llu, \"silent_streams\": %llu, \"rx_overflow\": %llu, "
	       "\"cpu_send_s\": %.2f, \"cpu_recv_s\": %.2f, \"cpu_s\": %.2f, "
	       "\"wait_send_s\": %.2f, \"wait_recv_s\": %.2f}\n",
	       g.n, g.nso, g.wall, (unsigned long long)g.ticks,
	       (unsigned long long)g.late_ticks, g.max_late * 1000,
	       g.wall > 0 ? g.busy / g.wall : 0, (unsigned long long)sent,
	       (unsigned long long)errs, (unsigned long long)got,
	       (long long)sent - (long long)got, (unsigned long long)lost_seq,
	       (long long)sent - (long long)span, (unsigned long long)head,
	       (unsigned long long)tail, (unsigned long long)short_st,
	       (unsigned long long)reord, (unsigned long long)g.unknown,
	       (unsigned long long)silent, (unsigned long long)ovf,
	       g.cpu_send, g.cpu_recv,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	       g.wait_send, g.wait_recv);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "ptime", required_argument, NULL, 'p' },
		{ "drain", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			g.seconds = atof(optarg);
		else if (c == 'p')
			g.ptime_ms = atol(optarg);
		else if (c == 'd')
			g.drain_ms = atol(optarg);
		else
			return EINVAL;
	}
	if (optind != argc || !(g.seconds > 0 && g.seconds <= MAX_SECONDS) ||
	    g.ptime_ms < 10 || g.ptime_ms > 1000 || g.drain_ms < 0 || g.drain_ms > 10000) {
		fprintf(stderr, "usage: rtp_load [--seconds 0<S<=%d] [--ptime 10..1000 ms] "
			"[--drain 0..10000 ms] < STREAMS\n", MAX_SECONDS);
		return EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t tx, rx;
	struct timespec d;
	int err;

	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	if (parse_args(argc, argv) || read_streams(stdin))
		return 2;
	/* streams of one local address side by side: one socket, one
	 * sendmmsg run each */
	qsort(g.st, g.n, sizeof *g.st, by_local);
	if (index_streams())
		return 2;
	if (fd_room() || open_socks())
		return 1;
	memset(payload, 0xff, sizeof payload);
	if ((err = pthread_create(&rx, NULL, receiver, NULL)) ||
	    (err = pthread_create(&tx, NULL, sender, NULL))) {
		fprintf(stderr, "rtp_load: threads: %s\n", strerror(err));
		return 1;
	}
	pthread_join(tx, NULL);
	d = (struct timespec){ g.drain_ms / 1000, g.drain_ms % 1000 * 1000000L };
	nanosleep(&d, NULL);
	atomic_store(&g.stop, 1);
	pthread_join(rx, NULL);
	report();
	return 0;
}
