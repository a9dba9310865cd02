/* tests/unit/sip_testutil.h — shared by the lib/sip unit tests: read an
 * RFC 4475 message ($RFC4475_DIR, else $DPN_ROOT/../shared/data/rfc4475,
 * else ../shared/data/rfc4475 from the working folder) and compare slices. */
#ifndef SIP_TESTUTIL_H
#define SIP_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *rfc4475_load(const char *name, size_t *len)
{
	const char *dir = getenv("RFC4475_DIR"), *root = getenv("DPN_ROOT");
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	if (dir)
		snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	else
		snprintf(path, sizeof(path), "%s/../shared/data/rfc4475/%s.dat",
			 root ? root : ".", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		abort();
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

#define assert_slice(sl, lit) do { \
	struct sip_str s_ = (sl); \
	if (s_.len != strlen(lit) || memcmp(s_.s, lit, s_.len) != 0) { \
		fprintf(stderr, "got '%.*s' want '%s'\n", (int)s_.len, \
			s_.s ? s_.s : "", lit); \
		fail(); \
	} \
} while (0)

#endif
