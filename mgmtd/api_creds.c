/* mgmtd/api_creds.c — credential helpers of the resource files: random
 * the MD5 digest of SIP HA1s, answering a row with a secret shown once
 * (random secrets and SHA-256: auth_random_hex, auth_sha256_hex). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "api_res.h"

/* Hex digest of s with md into out (room for 2 * its size + 1). */
static int digest_hex(const EVP_MD *md, const char *s, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!md || EVP_Digest(s, strlen(s), d, &n, md, NULL) != 1)
		return EIO;
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	out[2 * n] = '\0';
	return 0;
}

int res_md5_hex(const char *s, char out[33])
{
	return digest_hex(EVP_md5(), s, out);
}

void res_answer_with(struct api_req *r, unsigned status, const char *text,
    const char *key, const char *value)
{
	json_object *o = json_tokener_parse(text);
	json_object *v;

	if (!o || json_object_get_type(o) != json_type_object) {
		log_warnx("%s %s: row is not a JSON object", r->method, r->path);
		json_object_put(o);
		api_error(r, 500, NULL, "internal error");
		return;
	}
	v = json_object_new_string(value);
	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		json_object_put(o);
		api_error(r, 503, NULL, "out of memory");
		return;
	}
	api_json(r, status, o);
}

int res_decode_nothing(struct api_req *r)
{
	struct api_field none[] = { API_FIELDS_END };

	if (r->body_len == 0)
		return 0;
	return api_decode(r, none);
}

int res_paging(struct api_req *r, struct res_page *p)
{
	int64_t page, per_page;

	if (api_paging(r, p->limit, p->offset, &page, &per_page))
		return EINVAL;
	snprintf(p->page, sizeof(p->page), "%lld", (long long)page);
	return 0;
}

int res_found(struct api_req *r, PGresult *res, const char *notfound)
{
	int n = PQntuples(res);

	PQclear(res);
	if (n > 0)
		return 0;
	api_error(r, 404, NULL, "%s", notfound);
	return -1;
}
