/* mgmtd/static.c — serves the web admin's files from the web folder: "/" is
 * index.html, other paths name regular files under the folder. Paths with
 * "..", hidden segments, odd characters or symbolic links leaving the
 * folder are refused; no directory listings; known content types only. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "server.h"

#define STATIC_MAX_PATH 256

static int web_fd = -1;       /* O_PATH descriptor of the web folder */

int static_init(const char *web_dir)
{
	if (!web_dir)
		return 0;
	web_fd = open(web_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return web_fd < 0 ? errno : 0;
}

void static_free(void)
{
	if (web_fd >= 0)
		close(web_fd);
	web_fd = -1;
}

static const char *content_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(path, '.');

	if (!dot || strchr(dot, '/'))
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* Only [A-Za-z0-9._-/], no empty, "." or ".."-led segments. */
static int safe_path(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n >= STATIC_MAX_PATH || p[0] == '/')
		return 0;
	if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-/") != n)
		return 0;
	for (const char *s = p; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		if (*s == '\0' || *s == '/' || *s == '.')
			return 0;
	}
	return 1;
}

/* Opens a regular file under the web folder, never following a link. */
static int open_under(const char *rel, int *fd_out, uint64_t *size)
{
	char buf[STATIC_MAX_PATH], *seg, *save = NULL, *next;
	int dir = web_fd, fd = -1, rc = 0;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", rel);
	for (seg = strtok_r(buf, "/", &save); seg; seg = next) {
		next = strtok_r(NULL, "/", &save);
		fd = openat(dir, seg, (next ? O_PATH | O_DIRECTORY : O_RDONLY) |
		    O_NOFOLLOW | O_CLOEXEC);
		if (dir != web_fd)
			close(dir);
		if (fd < 0)
			return ENOENT;
		dir = fd;
	}
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc = ENOENT;
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

void static_serve(struct api_http *h, const char *url)
{
	const char *rel = strcmp(url, "/") == 0 ? "index.html" : url + 1;
	const char *type;
	uint64_t size;
	int fd;

	if (web_fd < 0 || url[0] != '/' || !safe_path(rel) ||
	    !(type = content_type(rel)) || open_under(rel, &fd, &size)) {
		api_error(&h->req, 404, NULL, "not found");
		return;
	}
	http_answer_fd(h, fd, size, type);
}
