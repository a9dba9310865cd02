/* mgmtd/api_res.h — what the building, flat, handset, number, audit and user
 * resource files share: the manager-scope filter on a building, the SQL
 * fragments that show flats and handsets, and the credential helpers
 * (mgmtd/api_creds.c). */
#ifndef DPN_MGMTD_API_RES_H
#define DPN_MGMTD_API_RES_H

#include <stddef.h>

#include "api.h"

/* Manager scope of building id expression col, with the scope parameter
 * $n (api_scope): true for operators, else only assigned buildings. */
#define RES_SCOPE(n, col) "($" n "::bigint IS NULL OR EXISTS (SELECT 1 FROM " \
	"dpn.user_buildings ub WHERE ub.user_id = $" n "::bigint AND " \
	"ub.building_id = " col "))"

/* Flat f with its building b and site s. */
#define RES_FLAT_FROM "dpn.flats f JOIN dpn.buildings b ON b.id = f.building_id " \
	"JOIN dpn.sites s ON s.id = f.site_id"

/* The canonical dashed number of flat f (needs b and s). */
#define RES_FLAT_NUMBER "(lpad(s.number::text, s.w_complex, '0') || '-' || " \
	"lpad(b.number::text, s.w_building, '0') || '-' || " \
	"lpad(f.number::text, s.w_flat, '0'))"

#define RES_FLAT_JSON "json_build_object('id', f.id, 'building_id', f.building_id, " \
	"'number', f.number, 'circuit_id', f.circuit_id, 'full_number', " \
	RES_FLAT_NUMBER ")"

/* Handset h of flat f (needs b and s); never its credentials. */
#define RES_HANDSET_JSON "json_build_object('id', h.id, 'flat_id', h.flat_id, " \
	"'suffix', h.suffix, 'number', " RES_FLAT_NUMBER " || '-' || " \
	"lpad(h.suffix::text, s.w_handset, '0'), 'mac', h.mac::text, " \
	"'sip_username', h.sip_username, 'has_credentials', h.ha1_md5 IS NOT NULL, " \
	"'address', (SELECT dpn.ip4(a.addr) FROM dpn.assignments a " \
	"WHERE a.handset_id = h.id), 'online', coalesce((SELECT a.online FROM " \
	"dpn.assignments a WHERE a.handset_id = h.id), false))"

/* The SIP digest realm of handset credentials (HA1 = H(user:realm:pass)). */
#define RES_SIP_REALM "dpn"

/* Lower-case hex MD5 (out[33]) of the string s (digest HA1). 0 or EIO. */
int res_md5_hex(const char *s, char out[33]);

/* Answers status with the JSON object text plus one string member
 * key: value (a secret shown once). Answers 500 (logged) if text is not a
 * JSON object. Copies everything; the caller keeps its strings. */
void res_answer_with(struct api_req *r, unsigned status, const char *text,
    const char *key, const char *value);

/* ?page=&per_page= as SQL text (api_paging), and the page number. */
struct res_page {
	char limit[24], offset[24], page[24];
};

/* Fills p from the query; answers 422 naming the field and returns EINVAL
 * on a bad value. */
int res_paging(struct api_req *r, struct res_page *p);

/* For a locking SELECT: 0 when res has a row; otherwise answers 404 with
 * notfound and returns -1. Clears res either way. */
int res_found(struct api_req *r, PGresult *res, const char *notfound);

/* Decodes a body that may be empty or "{}" (a PUT or POST with nothing to
 * say): 0, or answers 400 (unknown field, malformed) and returns EINVAL. */
int res_decode_nothing(struct api_req *r);

#endif
