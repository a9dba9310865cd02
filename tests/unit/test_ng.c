/* tests/unit/test_ng.c — lib/ng against a fake rtpengine (a UDP socket of
 * the test on loopback): an answer reaches the callback, a lost request is
 * retransmitted with its cookie, no answer times out and marks the
 * instance down (ng_pick skips it), a ping brings it back, error answers,
 * garbage and late answers are counted, ng_cancel silences a request. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ng.h"

struct fake {
	int fd;
	struct conf_addr a;
};

static struct ev_loop *loop;
static struct fake fk[2];
static struct ng_set *set;
static int calls;
static struct ng_answer last;
static char last_reason[64];

static void fake_open(struct fake *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t l = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, l), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &l), 0);
	memcpy(&f->a.sa, &sa, l);
	f->a.len = l;
	snprintf(f->a.text, sizeof(f->a.text), "127.0.0.1:%u",
		 ntohs(sa.sin_port));
}

/* Receive one request at f (waiting up to 1 s); its cookie into c. */
static int fake_recv(struct fake *f, char *c, struct sockaddr_in *from,
		     char *body)
{
	char buf[4096];
	socklen_t l = sizeof(*from);
	struct timeval tv = { 1, 0 };
	ssize_t n;
	char *sp;

	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recvfrom(f->fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)from, &l);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	sp = strchr(buf, ' ');
	assert_non_null(sp);
	memcpy(c, buf, (size_t)(sp - buf));
	c[sp - buf] = '\0';
	if (body)
		strcpy(body, sp + 1);
	return 0;
}

static void fake_send(struct fake *f, const struct sockaddr_in *to,
		      const char *cookie, const char *body)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s %s", cookie, body);

	sendto(f->fd, buf, (size_t)n, 0, (const struct sockaddr *)to,
	       sizeof(*to));
}

static void on_answer(void *arg, const struct ng_answer *a)
{
	(void)arg;
	calls++;
	last = *a;
	snprintf(last_reason, sizeof(last_reason), "%.*s", (int)a->reason_len,
		 a->reason ? a->reason : "");
	last.nodes = NULL;
}

/* Run the loop until the callback count reaches want or ms passed. */
static void run_until(int want, unsigned ms)
{
	uint64_t end = ev_now(loop) + ms;

	while (calls < want && ev_now(loop) < end)
		ev_run_once(loop, 10);
}

static int setup(void **state)
{
	struct ng_cfg c = { .timeout_ms = 300, .retries = 2, .ping_ms = 100 };
	struct conf_addr a[2];

	(void)state;
	calls = 0;
	if (ev_loop_new(&loop))
		return -1;
	fake_open(&fk[0]);
	fake_open(&fk[1]);
	a[0] = fk[0].a;
	a[1] = fk[1].a;
	return ng_set_new(loop, &c, a, 2, &set);
}

static int teardown(void **state)
{
	(void)state;
	ng_set_free(set);
	close(fk[0].fd);
	close(fk[1].fd);
	ev_loop_free(loop);
	return 0;
}

static const char ping[] = "d7:command4:pinge";

static void test_answered(void **state)
{
	struct sockaddr_in from;
	char c[64], body[256];
	(void)state;

	assert_int_equal(ng_send(set, 0, ping, strlen(ping), on_answer, NULL,
				 NULL), 0);
	assert_int_equal(fake_recv(&fk[0], c, &from, body), 0);
	assert_string_equal(body, ping);
	fake_send(&fk[0], &from, c, "d6:result4:ponge");
	run_until(1, 1000);
	assert_int_equal(calls, 1);
	assert_int_equal(last.err, 0);
	assert_int_equal(last.instance, 0);
	/* the same answer again: late, counted, no second callback */
	fake_send(&fk[0], &from, c, "d6:result4:ponge");
	fake_send(&fk[0], &from, "nocookie", "d6:result2:oke");
	fake_send(&fk[0], &from, "", "");
	for (int i = 0; i < 10; i++)
		ev_run_once(loop, 10);
	assert_int_equal(calls, 1);
	assert_int_equal(ng_stats(set)->late, 3);
}

static void test_retransmit_then_error(void **state)
{
	struct sockaddr_in from;
	char c1[64], c2[64];
	(void)state;

	assert_int_equal(ng_send(set, 1, ping, strlen(ping), on_answer, NULL,
				 NULL), 0);
	assert_int_equal(fake_recv(&fk[1], c1, &from, NULL), 0);
	/* not answered: the same cookie comes again */
	while (ng_stats(set)->retransmits == 0)
		ev_run_once(loop, 10);
	assert_int_equal(fake_recv(&fk[1], c2, &from, NULL), 0);
	assert_string_equal(c1, c2);
	fake_send(&fk[1], &from, c2,
		  "d6:result5:error12:error-reason12:Unknown calle");
	run_until(1, 1000);
	assert_int_equal(last.err, EPROTO);
	assert_string_equal(last_reason, "Unknown call");
	assert_int_equal(ng_stats(set)->errors, 1);
}

static void test_garbage_answer(void **state)
{
	struct sockaddr_in from;
	char c[64];
	(void)state;

	assert_int_equal(ng_send(set, 0, ping, strlen(ping), on_answer, NULL,
				 NULL), 0);
	assert_int_equal(fake_recv(&fk[0], c, &from, NULL), 0);
	fake_send(&fk[0], &from, c, "d6:result");
	run_until(1, 1000);
	assert_int_equal(last.err, EBADMSG);
	assert_int_equal(ng_stats(set)->bad, 1);
}

static void test_timeout_down_ping_up(void **state)
{
	struct sockaddr_in from;
	char c[64], body[256];
	unsigned idx, seen[2] = { 0, 0 };
	(void)state;

	assert_int_equal(ng_send(set, 0, ping, strlen(ping), on_answer, NULL,
				 NULL), 0);
	run_until(1, 2000);
	assert_int_equal(calls, 1);
	assert_int_equal(last.err, ETIMEDOUT);
	assert_int_equal(ng_stats(set)->timeouts, 1);
	assert_false(ng_up(set, 0));
	for (int i = 0; i < 50; i++) {
		char id[16];
		snprintf(id, sizeof(id), "call-%d", i);
		assert_int_equal(ng_pick(set, id, strlen(id), &idx), 0);
		seen[idx]++;
	}
	assert_int_equal(seen[0], 0);
	/* answer the probes (ping every 100 ms) */
	for (int i = 0; i < 20 && !ng_up(set, 0); i++) {
		ev_run_once(loop, 50);
		if (fake_recv(&fk[0], c, &from, body) == 0 &&
		    strcmp(body, ping) == 0)
			fake_send(&fk[0], &from, c, "d6:result4:ponge");
		ev_run_once(loop, 50);
	}
	assert_true(ng_up(set, 0));
}

static void test_all_down(void **state)
{
	unsigned idx;
	(void)state;

	ng_send(set, 0, ping, strlen(ping), on_answer, NULL, NULL);
	ng_send(set, 1, ping, strlen(ping), on_answer, NULL, NULL);
	run_until(2, 2000);
	assert_int_equal(ng_pick(set, "x", 1, &idx), ENETDOWN);
}

static void test_cancel_and_bad_args(void **state)
{
	struct ng_req *r;
	(void)state;

	assert_int_equal(ng_send(set, 2, ping, 4, on_answer, NULL, NULL),
			 EINVAL);
	assert_int_equal(ng_send(set, 0, ping, 4, NULL, NULL, NULL), EINVAL);
	assert_int_equal(ng_send(set, 0, ping, strlen(ping), on_answer, NULL,
				 &r), 0);
	ng_cancel(set, r);
	for (int i = 0; i < 50; i++)
		ev_run_once(loop, 10);
	assert_int_equal(calls, 0);
}

static void test_pending_bound(void **state)
{
	struct ng_cfg c = { .timeout_ms = 300, .max_pending = 2 };
	struct ng_set *s2;
	(void)state;

	assert_int_equal(ng_set_new(loop, &c, &fk[0].a, 1, &s2), 0);
	assert_int_equal(ng_send(s2, 0, ping, 4, on_answer, NULL, NULL), 0);
	assert_int_equal(ng_send(s2, 0, ping, 4, on_answer, NULL, NULL), 0);
	assert_int_equal(ng_send(s2, 0, ping, 4, on_answer, NULL, NULL), EBUSY);
	ng_set_free(s2);	/* pending dropped, no callback, no leak */
	assert_int_equal(calls, 0);
	assert_int_equal(ng_set_new(loop, &c, &fk[0].a, 0, &s2), EINVAL);
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test_setup_teardown(test_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmit_then_error,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout_down_ping_up,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_bad_args,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_bound, setup,
						teardown),
	};

	return cmocka_run_group_tests(t, NULL, NULL);
}
