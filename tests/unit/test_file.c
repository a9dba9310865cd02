/* tests/unit/test_file.c — lib/file: a small file read whole, its limit
 * exact, errors named, nothing handed out on failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "file.h"

static char path[64];

static void write_file(const char *text, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	fclose(f);
}

static int setup(void **state)
{
	int fd;

	(void)state;
	/* mkstemp's template: it replaces the X's with a unique name */
	snprintf(path, sizeof(path), "/tmp/dpn-test-file-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void t_whole_and_nul_terminated(void **state)
{
	char *out = NULL;
	size_t n = 0;

	(void)state;
	write_file("abc\0def", 7);
	assert_int_equal(file_read_all(path, 100, &out, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "abc\0def", 8);
	free(out);
}

static void t_empty_file(void **state)
{
	char *out = NULL;
	size_t n = 99;

	(void)state;
	write_file("", 0);
	assert_int_equal(file_read_all(path, 100, &out, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	free(out);
}

static void t_limit_is_exact(void **state)
{
	char *out = NULL;

	(void)state;
	write_file("12345", 5);
	assert_int_equal(file_read_all(path, 5, &out, NULL), 0);
	assert_string_equal(out, "12345");
	free(out);
	out = NULL;
	assert_int_equal(file_read_all(path, 4, &out, NULL), EFBIG);
	assert_null(out);
}

static void t_not_a_regular_file(void **state)
{
	char *out = NULL;

	(void)state;
	/* No size to go by: the limit alone ends an endless file. */
	assert_int_equal(file_read_all("/dev/zero", 4096, &out, NULL), EFBIG);
	assert_null(out);
	assert_int_equal(file_read_all("/nonexistent/dpn", 10, &out, NULL), ENOENT);
	assert_int_equal(file_read_all("/tmp", 10, &out, NULL), EIO);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_whole_and_nul_terminated, setup, teardown),
		cmocka_unit_test_setup_teardown(t_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(t_limit_is_exact, setup, teardown),
		cmocka_unit_test(t_not_a_regular_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
