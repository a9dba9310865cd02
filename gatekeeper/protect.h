/* gatekeeper/protect.h — the gatekeeper's use of guard.h: its settings
 * (rows of the config table, reloadable by SIGHUP), the hooks main.c and
 * route.c call, its /metrics, the ban writer (banlog.h), bans restored
 * from dpn.gk_bans on start and lifted by NOTIFY dpn_gk 'unban ...'. */
#ifndef DPN_GK_PROTECT_H
#define DPN_GK_PROTECT_H

#include <stdint.h>

#include "conf.h"
#include "gatekeeper/guard.h"
#include "sip/registrar.h"
#include "sip/transport.h"

struct gk;
struct sip_fork;

/* The settings, a member `prot` of struct gk_conf. */
struct gk_protect_conf {
	unsigned window_ms, limit, ban_s;
	unsigned auth_fails, auth_window_s, lock_s, src_auth_fails;
	int scanner_ban;
	unsigned entries;
	char *scanners, *trusted;
	uint64_t max_msg;
};

int gk_protect_trusted_check(const void *field, char *err, size_t cap);

/* Rows of the config table for a member `f` (a struct gk_protect_conf) of
 * config type T. */
#define GK_PROTECT_CONF_ROWS(T, f)					\
	{ .name = "pike-window", .type = CONF_DURATION,			\
	  .off = offsetof(T, f.window_ms), .def = "2s", .unit = 1,	\
	  .min = 100, .max = 600000, .flags = CONF_RELOAD,		\
	  .help = "sampling window of the per-source request limit" },	\
	{ .name = "pike-limit", .type = CONF_UINT,			\
	  .off = offsetof(T, f.limit), .def = "16", .max = 1000000,	\
	  .flags = CONF_RELOAD, .help = "requests one source may send per "\
	  "window (more: banned); 0 disables" },				\
	{ .name = "ban-time", .type = CONF_DURATION,			\
	  .off = offsetof(T, f.ban_s), .def = "300s", .unit = 1000,	\
	  .min = 1, .max = 604800, .flags = CONF_RELOAD,			\
	  .help = "how long a banned source is dropped" },		\
	{ .name = "auth-failures", .type = CONF_UINT,			\
	  .off = offsetof(T, f.auth_fails), .def = "5", .max = 1000,	\
	  .flags = CONF_RELOAD, .help = "failed passwords of one username "\
	  "from one source before it is locked there; 0 disables" },	\
	{ .name = "auth-window", .type = CONF_DURATION,			\
	  .off = offsetof(T, f.auth_window_s), .def = "60s",		\
	  .unit = 1000, .min = 1, .max = 86400, .flags = CONF_RELOAD,	\
	  .help = "window in which failed passwords are counted" },	\
	{ .name = "lockout-time", .type = CONF_DURATION,		\
	  .off = offsetof(T, f.lock_s), .def = "300s", .unit = 1000,	\
	  .min = 1, .max = 604800, .flags = CONF_RELOAD,			\
	  .help = "how long a username stays locked at a source" },	\
	{ .name = "source-auth-failures", .type = CONF_UINT,		\
	  .off = offsetof(T, f.src_auth_fails), .def = "20",		\
	  .max = 100000, .flags = CONF_RELOAD, .help = "failed passwords "\
	  "of any username from one source before it is banned; 0 "	\
	  "disables" },							\
	{ .name = "scanners", .type = CONF_STR,				\
	  .off = offsetof(T, f.scanners), .def = GK_GUARD_SCANNERS,	\
	  .flags = CONF_RELOAD, .arg = "NAME,...", .help = "User-Agents "\
	  "dropped (case-insensitive substrings, comma separated)" },	\
	{ .name = "scanner-ban", .type = CONF_BOOL,			\
	  .off = offsetof(T, f.scanner_ban), .def = "yes",		\
	  .flags = CONF_RELOAD, .help = "ban a scanner's source too" },	\
	{ .name = "trusted", .type = CONF_STR,				\
	  .off = offsetof(T, f.trusted), .def = "", .flags = CONF_RELOAD,\
	  .arg = "PREFIX,...", .check = gk_protect_trusted_check,	\
	  .help = "sources exempt from limits and bans (monitoring; "	\
	  "route peers are exempt from the flood limit and bans by "	\
	  "themselves), e.g. 192.0.2.7,10.1.0.0/16" },			\
	{ .name = "guard-entries", .type = CONF_UINT,			\
	  .off = offsetof(T, f.entries), .def = "65536", .min = 16,	\
	  .max = 4000000, .help = "sources and (username, source) pairs "\
	  "tracked" },							\
	{ .name = "max-msg-size", .type = CONF_SIZE,			\
	  .off = offsetof(T, f.max_msg), .def = "16k", .min = 1024,	\
	  .max = 65535, .help = "largest SIP message accepted (larger: "\
	  "dropped, or 513 on TCP)" }

/* Make the guard and the ban writer, restore bans in force, register the
 * metrics (after gk_db_start). 0 or an errno (logged). */
int gk_protect_start(struct gk *g);
void gk_protect_stop(struct gk *g);
/* Settings of the transport: the pre-parse admit hook, max_msg. */
void gk_protect_tp(struct gk *g, struct sip_tp_cfg *tc);
/* 1 when m is to be dropped (a scanner's User-Agent). */
int gk_protect_msg(struct gk *g, const struct sip_msg *m,
		   const struct sip_peer *from);
/* Before the registrar: 1 when the REGISTER was answered here (its
 * username is locked at that source: 403). */
int gk_protect_register(struct gk *g, struct sip_fork *f,
			const struct sip_msg *m, const struct sip_peer *from);
/* After the registrar answered: count a failed or good password. */
void gk_protect_register_done(struct gk *g, const struct sip_msg *m,
			      const struct sip_peer *from,
			      const struct sip_reg_answer *ans);
/* After every load of the routes: their peers' addresses are exempt from
 * the flood limit and from bans (not from size limits). A failure is
 * logged; the last set stays. */
void gk_protect_peers(struct gk *g);
/* Once a second: sweep, hits to the database, metrics. */
void gk_protect_tick(struct gk *g);
/* After SIGHUP: the new settings. */
void gk_protect_reload(struct gk *g);
/* A dpn_gk notification: 1 when it was ours ("unban SITE ADDR [USER]"). */
int gk_protect_notify(struct gk *g, const char *payload);

#endif
