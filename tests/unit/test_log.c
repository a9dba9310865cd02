/* tests/unit/test_log.c — the rate-limited warning: at most `burst` lines a
 * window, from any number of threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Sends stderr to a temp file; returns it for counting lines. */
static FILE *capture_stderr(void)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	fflush(stderr);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	return f;
}

static int count_lines(FILE *f, const char *needle)
{
	char line[256];
	int n = 0;

	fflush(stderr);
	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	return n;
}

static void burst_then_silence(void **state)
{
	static struct log_rl rl = LOG_RL_INIT(3, 3600);
	FILE *f = capture_stderr();

	(void)state;
	log_init("test", 1, LOG_LVL_INFO);
	for (int i = 0; i < 10; i++)
		log_warnx_rl(&rl, "bad packet %d", i);
	assert_int_equal(count_lines(f, "bad packet"), 3);
	assert_int_equal(rl.suppressed, 7);
	fclose(f);
}

static struct log_rl shared_rl = LOG_RL_INIT(10, 3600);

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++)
		log_warnx_rl(&shared_rl, "threaded warning");
	return NULL;
}

static void threads_share_one_budget(void **state)
{
	pthread_t t[4];
	FILE *f = capture_stderr();

	(void)state;
	log_init("test", 1, LOG_LVL_INFO);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(count_lines(f, "threaded warning"), 10);
	assert_int_equal(shared_rl.suppressed, 4 * 2000 - 10);
	fclose(f);
}

static void levels_filter(void **state)
{
	FILE *f = capture_stderr();

	(void)state;
	log_init("test", 1, LOG_LVL_WARN);
	log_info("not shown");
	log_debug("not shown");
	log_warnx("shown");
	assert_int_equal(count_lines(f, "not shown"), 0);
	assert_int_equal(count_lines(f, "test: shown"), 1);
	log_set_level(LOG_LVL_DEBUG);
	assert_true(log_debug_enabled());
	log_debug("now shown");
	assert_int_equal(count_lines(f, "now shown"), 1);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_silence),
		cmocka_unit_test(threads_share_one_budget),
		cmocka_unit_test(levels_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
