/* mgmtd/paths.c — where the schema migrations and the web files are when
 * no option says: beside the binary in its source tree, beside an installed
 * binary, or the folder compiled in. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "paths.h"

/* realpath of the folder dir/rel into out, if it is a folder. */
static int folder(const char *dir, const char *rel, char *out)
{
	char p[PATH_MAX + 64];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return realpath(p, out) && stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *path_default(const char *name, const char *compiled, char *buf)
{
	char exe[PATH_MAX], rel[64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *dir;

	if (n > 0) {
		exe[n] = '\0';
		dir = dirname(exe);
		/* TREE/build/{rel,san}/bin/dpn-mgmtd */
		snprintf(rel, sizeof(rel), "../../../%s", name);
		if (folder(dir, rel, buf))
			return buf;
		/* PREFIX/sbin/dpn-mgmtd */
		snprintf(rel, sizeof(rel), "../share/dpn/%s", name);
		if (folder(dir, rel, buf))
			return buf;
	}
	return compiled;
}
