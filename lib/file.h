/* lib/file.h — reading a small file whole (config fragments, PEM keys and
 * certificates, SQL migrations). */
#ifndef DPN_FILE_H
#define DPN_FILE_H
#include <stddef.h>

/* The whole of the file at path, NUL-terminated, into *out (malloc'd; the
 * caller frees) and its length into *len (may be NULL); at most max bytes.
 * Returns 0, EFBIG (longer than max), ENOMEM, EIO (a read error, or the
 * file grew while read), or the errno of open.
 * *out and *len are set only on success. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

#endif
