/* bench/mgmtd_load.c — a small HTTP/1.1 keep-alive load generator for the
 * mgmtd broker endpoints (one epoll loop, one connection per simulated
 * gateway, loopback only). Bounded in time and in count.
 *
 *   mgmtd_load --port P --gateways FILE --clients N --mode MODE
 *              [--seconds S] [--warmup S] [--handsets K]
 *
 * FILE has one gateway per line: "BASE64(user:secret) MAC". MODE:
 *   repeat    each client repeats its (idempotent) allocation request
 *   cycle     each client alternates allocation and gateway deletion
 *   powercut  each client allocates once, then asks for K handsets one by
 *             one; the run ends when every client is done (all N at once)
 *   powerlist each client sends one allocation request listing its K
 *             handsets (flow 1 of the design) and is done
 * Requests sent in the first --warmup seconds (default 0) are not counted.
 * Prints one JSON object: requests, errors (non-2xx), seconds, rps, and
 * latency p50/p99/max in milliseconds. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define MAX_CLIENTS 5000
#define MAX_SAMPLES 5000000
#define BUF 8192

enum mode { REPEAT, CYCLE, POWERCUT, POWERLIST };

struct client {
	int fd;
	char auth[200], mac[18];
	char out[1024];
	size_t out_len, out_off;
	char in[BUF];
	size_t in_len;
	int step;              /* requests sent so far */
	double t0;
	int done;
};

static struct {
	enum mode mode;
	int port, nclients, handsets;
	double seconds, warmup, measure_from;
	struct client *c;
	double *lat;
	size_t nlat;
	long errors;
	int ep, active;
} g;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* An allocation request body listing the client's K handsets: MACs with
 * byte 5 set to 1..K (the setup script gives gateways byte 5 zero). */
static void handset_list(const struct client *c, char *body, size_t size)
{
	int n = snprintf(body, size, "{\"gateway_mac\": \"%s\", \"handset_macs\": [",
	    c->mac);

	for (int k = 1; k <= g.handsets; k++)
		n += snprintf(body + n, size - (size_t)n, "%s\"%.12s%02x%s\"",
		    k > 1 ? ", " : "", c->mac, (unsigned)k, c->mac + 14);
	snprintf(body + n, size - (size_t)n, "]}");
}

/* The next request of client c into c->out; 0, or 1 when c is done. */
static int next_request(struct client *c)
{
	char body[512];
	const char *path = "/api/v1/broker/allocate";

	if ((g.mode == POWERCUT && c->step > g.handsets) ||
	    (g.mode == POWERLIST && c->step > 0))
		return 1;
	if (g.mode == CYCLE && c->step % 2 == 1) {
		path = "/api/v1/broker/delete";
		snprintf(body, sizeof(body), "{\"gateway\": true}");
	} else if (g.mode == POWERCUT && c->step > 0) {
		path = "/api/v1/broker/handsets";
		/* handset n of the gateway: its MAC with byte 5 set to n (the
		 * setup script gives gateways MACs with byte 5 zero) */
		snprintf(body, sizeof(body), "{\"mac\": \"%.12s%02x%s\"}", c->mac,
		    (unsigned)c->step, c->mac + 14);
	} else if (g.mode == POWERLIST) {
		handset_list(c, body, sizeof(body));
	} else {
		snprintf(body, sizeof(body), "{\"gateway_mac\": \"%s\"}", c->mac);
	}
	c->out_len = (size_t)snprintf(c->out, sizeof(c->out),
	    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    path, c->auth, strlen(body), body);
	c->out_off = 0;
	c->in_len = 0;
	c->t0 = now();
	c->step++;
	return 0;
}

static void watch(struct client *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev))
		die("epoll_ctl");
}

static void client_open(struct client *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g.port) };
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
		die("connect");
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl");
	next_request(c);
	g.active++;
}

static void client_finish(struct client *c)
{
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->done = 1;
	g.active--;
}

/* A whole response in c->in? Returns its length, or 0. */
static size_t response_len(struct client *c)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4), *cl;
	size_t head, body = 0;

	if (!end)
		return 0;
	head = (size_t)(end - c->in) + 4;
	*end = '\0';
	cl = strcasestr(c->in, "\r\ncontent-length:");
	*end = '\r';
	if (cl)
		body = strtoul(cl + 17, NULL, 10);
	return c->in_len >= head + body ? head + body : 0;
}

static void on_response(struct client *c, int stop)
{
	int status = atoi(c->in + 9);

	if (g.nlat < MAX_SAMPLES && c->t0 >= g.measure_from)
		g.lat[g.nlat++] = (now() - c->t0) * 1000.0;
	if (status < 200 || status > 299) {
		if (g.errors < 5)
			fprintf(stderr, "status %d: %.*s\n", status, (int)c->in_len, c->in);
		g.errors++;
	}
	if (stop || next_request(c))
		client_finish(c);
	else
		watch(c, EPOLLOUT);
}

static void on_event(struct client *c, unsigned ev, int stop)
{
	ssize_t n;

	if (ev & EPOLLOUT) {
		n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno != EAGAIN)
			die("write");
		if (n > 0 && (c->out_off += (size_t)n) == c->out_len)
			watch(c, EPOLLIN);
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len - 1);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		fprintf(stderr, "connection closed by the server\n");
		g.errors++;
		client_finish(c);
		return;
	}
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (response_len(c))
		on_response(c, stop);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void load_gateways(const char *path)
{
	FILE *f = fopen(path, "r");
	int i = 0;

	if (!f)
		die(path);
	while (i < g.nclients && fscanf(f, "%199s %17s", g.c[i].auth, g.c[i].mac) == 2)
		i++;
	fclose(f);
	if (i < g.nclients) {
		fprintf(stderr, "%s: only %d gateways for %d clients\n", path, i, g.nclients);
		exit(1);
	}
}

static void parse(int argc, char **argv, const char **file)
{
	static const struct option o[] = {
		{ "port", 1, NULL, 'p' }, { "gateways", 1, NULL, 'g' },
		{ "clients", 1, NULL, 'c' }, { "mode", 1, NULL, 'm' },
		{ "seconds", 1, NULL, 's' }, { "handsets", 1, NULL, 'k' },
		{ "warmup", 1, NULL, 'w' },
		{ NULL, 0, NULL, 0 } };
	int ch;

	g.seconds = 5;
	g.handsets = 4;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (ch) {
		case 'p': g.port = atoi(optarg); break;
		case 'g': *file = optarg; break;
		case 'c': g.nclients = atoi(optarg); break;
		case 's': g.seconds = atof(optarg); break;
		case 'w': g.warmup = atof(optarg); break;
		case 'k': g.handsets = atoi(optarg); break;
		case 'm': g.mode = !strcmp(optarg, "cycle") ? CYCLE :
		    !strcmp(optarg, "powercut") ? POWERCUT :
		    !strcmp(optarg, "powerlist") ? POWERLIST : REPEAT; break;
		default: exit(2);
		}
	}
	if (!g.port || !*file || g.nclients < 1 || g.nclients > MAX_CLIENTS ||
	    g.seconds <= 0 || g.seconds > 120 || g.warmup < 0 || g.warmup > 60 ||
	    g.handsets < 0 || g.handsets > 9) {
		fprintf(stderr, "usage: mgmtd_load --port P --gateways FILE --clients N "
		    "(1..%d) --mode repeat|cycle|powercut [--seconds S (<=120)] "
		    "[--handsets K (0..9)]\n", MAX_CLIENTS);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "repeat", "cycle", "powercut", "powerlist" };
	const char *file = NULL;
	struct epoll_event ev[256];
	double start, end, limit;
	int stop = 0;

	parse(argc, argv, &file);
	g.c = calloc((size_t)g.nclients, sizeof(*g.c));
	g.lat = malloc(MAX_SAMPLES * sizeof(double));
	if (!g.c || !g.lat || (g.ep = epoll_create1(0)) < 0)
		die("setup");
	load_gateways(file);
	start = now();
	g.measure_from = start + g.warmup;
	limit = g.measure_from + g.seconds;
	for (int i = 0; i < g.nclients; i++)
		client_open(&g.c[i]);
	while (g.active > 0) {
		int n = epoll_wait(g.ep, ev, 256, 100);

		if (!stop && now() > limit) {
			stop = 1;         /* let in-flight requests finish */
			if (g.mode == POWERCUT || g.mode == POWERLIST)
				fprintf(stderr, "power-cut run cut at %.0f s\n", g.seconds);
		}
		for (int i = 0; i < n; i++)
			on_event(ev[i].data.ptr, ev[i].events, stop);
	}
	end = now();
	qsort(g.lat, g.nlat, sizeof(double), cmp);
	printf("{\"mode\": \"%s\", \"clients\": %d, \"requests\": %zu, \"errors\": %ld, "
	    "\"seconds\": %.3f, \"rps\": %.0f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, "
	    "\"max_ms\": %.2f}\n", modes[g.mode], g.nclients, g.nlat, g.errors, end - g.measure_from,
	    g.nlat / (end - g.measure_from), g.nlat ? g.lat[g.nlat / 2] : 0,
	    g.nlat ? g.lat[(size_t)(g.nlat * 0.99)] : 0, g.nlat ? g.lat[g.nlat - 1] : 0);
	free(g.c);
	free(g.lat);
	return g.errors ? 1 : 0;
}
