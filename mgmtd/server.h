/* mgmtd/server.h — internals shared by the mgmtd framework files (http.c,
 * router.c, db.c, auth.c, metrics.c, static.c, main.c). Resource files use
 * api.h only. */
#ifndef DPN_MGMTD_SERVER_H
#define DPN_MGMTD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "api.h"

#define BODY_MAX       (64 * 1024)
#define BODY_MAX_BULK  (1024 * 1024)
#define MAX_HEADERS    8
#define HTTP_URL_MAX     4096    /* path and query: more -> 414 */
#define HTTP_HEADERS_MAX 16384   /* names, values, cookies: more -> 431 */

struct mgmtd_config {
	const char *db;           /* libpq conninfo */
	const char *listen;       /* host:port */
	const char *web_dir;      /* NULL: no static files */
	const char *user;         /* drop to this user when root */
	int foreground, debug, check_only;
	unsigned threads;         /* MHD worker threads = db connections */
	unsigned max_conns;       /* whole server */
	unsigned max_conns_per_ip;
	unsigned timeout_s;       /* per connection, idle */
	unsigned request_timeout_s; /* to deliver a whole request */
	const char *tls_cert, *tls_key;  /* PEM files: serve HTTPS */
	unsigned login_per_min;   /* login attempts per client address */
	int cookie_secure;        /* behind a TLS proxy: Secure cookies */
	const char *kea_socket;   /* Kea control socket: lease4-del; NULL off */
	unsigned kea_poll_ms;
};

/* Per-request state behind struct api_req (owned by http.c). */
struct api_http {
	struct MHD_Connection *conn;
	struct api_req req;
	int route_idx;            /* index in the flat route list, or -1 */
	const struct api_route *route;
	char *buf;                /* body */
	size_t len, cap, limit;
	int too_big, done;
	unsigned status;          /* answer; 0 until a handler answers */
	char *resp;               /* answer body (malloc'd), or NULL */
	size_t resp_len;
	const char *resp_type;    /* content type, static */
	int resp_fd;              /* static files: fd to send, or -1 */
	uint64_t resp_fd_size;
	char *hdr_name[MAX_HEADERS], *hdr_value[MAX_HEADERS];
	int nhdr;
	json_object *json;        /* decoded body (one reference) */
	char **strs;              /* strings handed to the handler */
	size_t nstrs;
	char *path;               /* writable copy for {*} segments */
	char client[64];          /* peer address, for rate limits */
	uint64_t t0_ns;
	int cookie_auth;          /* authenticated by session cookie */
	char allow[48];           /* 405: the methods the path has */
};

/* http.c, answer.c */
/* Starts serving on listen_fd; HTTPS when tls_key and tls_cert (PEM text,
 * kept by the caller until the daemon stops) are given. 0 or EIO. */
int http_start(const struct mgmtd_config *cfg, int listen_fd,
    const char *tls_key, const char *tls_cert, struct MHD_Daemon **out);
uint64_t http_now_ns(void);
/* Keeps s (malloc'd) until the request ends; returns s, or NULL if s was
 * NULL or out of memory (s then freed). */
char *http_keep(struct api_http *h, char *s);
/* Replaces any earlier answer. */
void http_answer(struct api_http *h, unsigned status, const char *type,
    char *body, size_t len);
void http_answer_fd(struct api_http *h, int fd, uint64_t size, const char *type);
/* Frees what a request owns (answer, headers, kept strings, decoded body);
 * h itself stays. */
void http_req_cleanup(struct api_http *h);

/* guard.c — per-connection state, the request deadline, shedding */
/* Raises the soft RLIMIT_NOFILE to the hard one and lowers *max_conns to
 * fit what it allows. 0, or EMFILE when almost nothing is allowed. */
int guard_fd_budget(unsigned *max_conns);
/* Starts the reaper thread (cfg->request_timeout_s, cfg->max_conns).
 * 0 or EAGAIN. guard_stop joins it (after MHD_stop_daemon). */
int guard_start(const struct mgmtd_config *cfg);
void guard_stop(void);
/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection (its socket
 * context, owned here). */
void guard_notify(void *cls, struct MHD_Connection *conn, void **ctx,
    enum MHD_ConnectionNotificationCode code);
/* A handler runs (1) or has answered (0): busy connections are never cut;
 * either call restarts the connection's deadline. */
void guard_busy(struct MHD_Connection *conn, int busy);
/* A gateway's broker call succeeded on conn: shedding spares it from now
 * on (the request deadline still holds). */
void guard_mark_broker(struct MHD_Connection *conn);
/* The request line held %00 (set while unescaping; taken once per
 * request: guard_take_nul returns it and clears it). */
void guard_mark_nul(struct MHD_Connection *conn);
int guard_take_nul(struct MHD_Connection *conn);

/* router.c */
int router_init(void);
void router_free(void);
/* Finds the route of method+path (HEAD takes GET routes): fills h->route,
 * h->route_idx and the {id}/{*} params of h->req; route_idx is -2 when the
 * path has routes but not this method, -1 when it has none. 0, ENOENT (no
 * route) or ENOMEM. With route_idx -2, h->allow lists the path's methods
 * ("GET, HEAD, POST") for the 405's Allow header. */
int router_match(struct api_http *h, const char *method, const char *url);
size_t router_count(void);
const struct api_route *router_get(size_t i);

/* db.c */
int db_init(const char *conninfo, unsigned size);
void db_free(void);
/* 1 if a connection works now (healthz). */
int db_ping(void);
/* Runs one statement outside any request (auth, metrics): autocommit,
 * retried; *out to PQclear. 0, EAGAIN (database unavailable), EIO. */
int db_query(PGresult **out, const char *sql, int n, const char *const *params);
unsigned long db_errors(void);

/* auth.c */
int auth_init(const struct mgmtd_config *cfg);
void auth_free(void);
/* Authenticates per route flags; answers 401/403 itself and returns
 * nonzero. */
int auth_check(struct api_http *h);
int cmd_user_add(int argc, char **argv);
int cmd_token_add(int argc, char **argv);
extern const struct api_route api_session_routes[];

/* metrics.c */
void metrics_init(size_t nroutes);
void metrics_free(void);
void metrics_observe(int route_idx, unsigned status, uint64_t ns);
void metrics_broker(const char *op, int ok);
struct kea_ctrl;
/* Reports the Kea lease remover's counters (NULL: none). */
void metrics_kea(struct kea_ctrl *k);
extern const struct api_route api_ops_routes[];

/* static.c */
int static_init(const char *web_dir);
void static_free(void);
/* Answers GET/HEAD of a file under the web folder (or 404). */
void static_serve(struct api_http *h, const char *url);

/* broker.c */
extern const struct api_route api_broker_routes[];

#endif
