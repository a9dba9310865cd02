/* lib/file.c — reading a small file whole. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	size_t room = max, n;
	char *buf = NULL;
	int rc = 0;

	if (!f)
		return errno;
	/* A regular file needs no more room than its size: a 2 kB migration
	 * does not cost the 16 MiB limit. */
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size < max)
		room = (size_t)st.st_size;
	/* One byte past room tells a file that fits from a longer one. */
	if (!(buf = malloc(room + 2))) {
		rc = ENOMEM;
		goto out;
	}
	n = fread(buf, 1, room + 1, f);
	if (ferror(f))
		rc = EIO;
	else if (n > room)
		rc = room == max ? EFBIG : EIO;	/* EIO: it grew while read */
	if (rc)
		goto out;
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = n;
out:
	free(buf);
	fclose(f);
	return rc;
}
