/* mgmtd/paths.h — default folders of mgmtd's data (see paths.c). */
#ifndef DPN_MGMTD_PATHS_H
#define DPN_MGMTD_PATHS_H

#include <limits.h>

/* The folder `name` ("schema", "web"): TREE/name when this binary lives in
 * TREE/build/<kind>/bin, else PREFIX/share/dpn/name beside an installed
 * PREFIX/sbin binary, else `compiled`. The answer is buf (PATH_MAX bytes)
 * or compiled; never fails. */
const char *path_default(const char *name, const char *compiled, char *buf);

#endif
