/* mgmtd/json.c — strict request decoding: one JSON object, fields with
 * types and ranges, unknown fields refused, every error naming its field. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "server.h"

#define JSON_MAX_DEPTH 16

/* 1 if s[0..n) is valid UTF-8 without NUL. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c == 0)
			return 0;
		if (c < 0x80) { i++; continue; }
		if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; }
		else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; }
		else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; }
		else return 0;
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k + 1;
	}
	return 1;
}

int api_mac_canon(const char *s, char out[18])
{
	unsigned v[6];
	char sep;
	int n;

	if (strlen(s) != 17)
		return EINVAL;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return EINVAL;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (s[i] != sep)
				return EINVAL;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
			    (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F'))) {
			return EINVAL;
		}
	}
	n = sscanf(s, "%2x%*c%2x%*c%2x%*c%2x%*c%2x%*c%2x", &v[0], &v[1], &v[2],
	    &v[3], &v[4], &v[5]);
	if (n != 6)
		return EINVAL;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", v[0], v[1], v[2],
	    v[3], v[4], v[5]);
	return 0;
}

static const char *type_name(enum api_type t)
{
	switch (t) {
	case API_T_STR: return "a string";
	case API_T_INT: return "an integer";
	case API_T_BOOL: return "true or false";
	case API_T_OBJ: return "an object";
	case API_T_ARR: return "an array";
	case API_T_MAC: return "a MAC address string";
	case API_T_IPV4: return "an IPv4 address string";
	}
	return "?";
}

static json_type want_type(enum api_type t)
{
	switch (t) {
	case API_T_INT: return json_type_int;
	case API_T_BOOL: return json_type_boolean;
	case API_T_OBJ: return json_type_object;
	case API_T_ARR: return json_type_array;
	default: return json_type_string;
	}
}

/* Keeps a string for the rest of the request; NULL when out of memory. */
static const char *keep_str(struct api_req *r, const char *s)
{
	return http_keep(r->http, strdup(s));
}

static int decode_str(struct api_req *r, const char *name, struct api_field *f,
    json_object *v)
{
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);

	if (!utf8_ok((const unsigned char *)s, n)) {
		api_error(r, 400, name, "%s must be UTF-8 text without NUL", name);
		return EINVAL;
	}
	if ((int64_t)n < f->min || (int64_t)n > f->max) {
		if (f->min > 0 && n == 0)
			api_error(r, 422, name, "%s must not be empty", name);
		else
			api_error(r, 422, name, "%s must be %" PRId64 " to %" PRId64
			    " bytes long", name, f->min, f->max);
		return EINVAL;
	}
	*(const char **)f->out = s;
	return 0;
}

static int decode_int(struct api_req *r, const char *name, struct api_field *f,
    json_object *v)
{
	int64_t x;
	char buf[24];

	errno = 0;
	x = json_object_get_int64(v);
	if (errno == EINVAL || errno == ERANGE || x < f->min || x > f->max) {
		api_error(r, 422, name, "%s must be between %" PRId64 " and %" PRId64,
		    name, f->min, f->max);
		return EINVAL;
	}
	snprintf(buf, sizeof(buf), "%" PRId64, x);
	if (!(f->text = keep_str(r, buf))) {
		api_error(r, 503, NULL, "out of memory");
		return ENOMEM;
	}
	*(int64_t *)f->out = x;
	return 0;
}

static int decode_special(struct api_req *r, const char *name,
    struct api_field *f, json_object *v)
{
	const char *s = json_object_get_string(v);
	char mac[18];
	struct in_addr a;

	if (f->type == API_T_MAC) {
		if (api_mac_canon(s, mac)) {
			api_error(r, 422, name, "%s must be a MAC address like "
			    "aa:bb:cc:dd:ee:ff", name);
			return EINVAL;
		}
		if (!(s = keep_str(r, mac))) {
			api_error(r, 503, NULL, "out of memory");
			return ENOMEM;
		}
	} else if (strlen(s) > 15 || inet_pton(AF_INET, s, &a) != 1) {
		api_error(r, 422, name, "%s must be an IPv4 address like 10.0.0.1", name);
		return EINVAL;
	}
	*(const char **)f->out = s;
	return 0;
}

static int decode_one(struct api_req *r, const char *name, struct api_field *f,
    json_object *v)
{
	if (json_object_get_type(v) != want_type(f->type)) {
		api_error(r, 400, name, "%s must be %s", name, type_name(f->type));
		return EINVAL;
	}
	switch (f->type) {
	case API_T_STR:
		return decode_str(r, name, f, v);
	case API_T_INT:
		return decode_int(r, name, f, v);
	case API_T_BOOL:
		*(int *)f->out = json_object_get_boolean(v);
		return 0;
	case API_T_ARR:
		if (f->max && json_object_array_length(v) > (size_t)f->max) {
			api_error(r, 422, name, "%s has more than %" PRId64 " items",
			    name, f->max);
			return EINVAL;
		}
		/* fall through */
	case API_T_OBJ:
		*(json_object **)f->out = v;
		return 0;
	default:
		return decode_special(r, name, f, v);
	}
}

/* Dotted name of a field for answers, kept for the request. */
static const char *field_name(struct api_req *r, const char *prefix,
    const char *name)
{
	char buf[256];

	if (!prefix)
		return name;
	snprintf(buf, sizeof(buf), "%s.%s", prefix, name);
	return keep_str(r, buf) ? r->http->strs[r->http->nstrs - 1] : name;
}

static struct api_field *find_field(struct api_field *fields, const char *key)
{
	for (struct api_field *f = fields; f->name; f++)
		if (strcmp(f->name, key) == 0)
			return f;
	return NULL;
}

int api_decode_obj(struct api_req *r, json_object *obj, const char *prefix,
    struct api_field *fields)
{
	json_object *v;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (!find_field(fields, key)) {
			const char *n = field_name(r, prefix, key);

			api_error(r, 400, n, "unknown field %s", n);
			return EINVAL;
		}
	}
	for (struct api_field *f = fields; f->name; f++) {
		const char *n = field_name(r, prefix, f->name);

		f->present = 0;
		if (!json_object_object_get_ex(obj, f->name, &v) ||
		    (v == NULL && (f->flags & API_NULLABLE))) {
			if (f->flags & API_REQUIRED) {
				api_error(r, 400, n, "%s is required", n);
				return EINVAL;
			}
			continue;
		}
		if (v == NULL) {
			api_error(r, 400, n, "%s must be %s, not null", n,
			    type_name(f->type));
			return EINVAL;
		}
		if (decode_one(r, n, f, v))
			return EINVAL;
		f->present = 1;
	}
	return 0;
}

/* json-c's strict mode still takes single-quoted names; JSON has only
 * these characters outside strings. 1 if the body keeps to them. */
static int only_json_chars(const char *s, size_t n)
{
	int in_str = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (!strchr(" \t\r\n{}[],:-+.0123456789eEtruefalsn", s[i]) || !s[i]) {
			return 0;
		}
	}
	return 1;
}

/* ---- what json-c lets through: duplicate names, lone surrogates -------- */

/* A walk over text json-c has accepted, naming where it is ("a.b[2].c"). */
struct scan {
	const char *s;
	size_t n, i;
	char path[256];
	const char *why;         /* set when refused */
};

static unsigned hex4(const char *p)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		char c = p[k];

		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static size_t utf8_put(char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | cp >> 12);
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | cp >> 18);
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* One \\uXXXX escape (a surrogate pair counts as one) at s->i; its code
 * point, or 0 for a lone surrogate (refused). */
static unsigned scan_u(struct scan *s)
{
	unsigned cp, lo;

	if (s->i + 6 > s->n)
		return 0;
	cp = hex4(s->s + s->i + 2);
	s->i += 6;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return 0;
	if (cp < 0xD800 || cp > 0xDBFF)
		return cp;
	if (s->i + 6 > s->n || s->s[s->i] != '\\' || s->s[s->i + 1] != 'u')
		return 0;
	lo = hex4(s->s + s->i + 2);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return 0;
	s->i += 6;
	return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
}

/* The string at s->i (its opening quote); with out, its decoded text
 * (malloc'd, NUL-terminated; the caller frees). EINVAL (s->why set) for a
 * lone surrogate, ENOMEM. */
static int scan_string(struct scan *s, char **out)
{
	static const char esc_from[] = "\"\\/bfnrt", esc_to[] = "\"\\/\b\f\n\r\t";
	char *d = NULL, *e;
	size_t dn = 0;
	unsigned cp;

	if (out && !(d = malloc(s->n - s->i + 1)))
		return ENOMEM;
	for (s->i++; s->i < s->n && s->s[s->i] != '"';) {
		if (s->s[s->i] != '\\') {
			if (d)
				d[dn++] = s->s[s->i];
			s->i++;
		} else if (s->s[s->i + 1] != 'u') {
			e = strchr(esc_from, s->s[s->i + 1]);
			if (d && e)
				d[dn++] = esc_to[e - esc_from];
			s->i += 2;
		} else if ((cp = scan_u(s)) != 0) {
			if (d)
				dn += utf8_put(d + dn, cp);
		} else {
			free(d);
			s->why = "holds a lone UTF-16 surrogate (\\ud800-\\udfff)";
			return EINVAL;
		}
	}
	s->i++;
	if (d) {
		d[dn] = '\0';
		*out = d;
	}
	return 0;
}

static void skip_ws(struct scan *s)
{
	while (s->i < s->n && strchr(" \t\r\n", s->s[s->i]) && s->s[s->i])
		s->i++;
}

static int scan_value(struct scan *s);

/* Appends ".name" (or "name" at the top) or "[i]" to the path; returns
 * the length to cut back to. */
static size_t path_push(struct scan *s, const char *key, size_t idx)
{
	size_t at = strlen(s->path);

	if (key)
		snprintf(s->path + at, sizeof(s->path) - at, "%s%s", at ? "." : "", key);
	else
		snprintf(s->path + at, sizeof(s->path) - at, "[%zu]", idx);
	return at;
}

/* The members of an object: each name once. */
static int scan_object(struct scan *s)
{
	json_object *seen = json_object_new_object();
	char *key;
	size_t at;
	int rc = 0;

	if (!seen)
		return ENOMEM;
	for (s->i++, skip_ws(s); rc == 0 && s->i < s->n && s->s[s->i] == '"';) {
		if ((rc = scan_string(s, &key)))
			break;
		at = path_push(s, key, 0);
		if (json_object_object_get_ex(seen, key, NULL)) {
			s->why = "is given twice";
			rc = EINVAL;
		} else if (json_object_object_add(seen, key, NULL)) {
			rc = ENOMEM;
		}
		free(key);
		skip_ws(s);
		s->i++;                              /* ':' */
		if (rc == 0 && (rc = scan_value(s)) == 0) {
			s->path[at] = '\0';
			skip_ws(s);
			if (s->i < s->n && s->s[s->i] == ',')
				s->i++;
			skip_ws(s);
		}
	}
	json_object_put(seen);
	if (rc == 0)
		s->i++;                              /* '}' */
	return rc;
}

static int scan_array(struct scan *s)
{
	size_t at, k = 0;
	int rc;

	for (s->i++, skip_ws(s); s->i < s->n && s->s[s->i] != ']'; k++) {
		at = path_push(s, NULL, k);
		if ((rc = scan_value(s)))
			return rc;
		s->path[at] = '\0';
		skip_ws(s);
		if (s->i < s->n && s->s[s->i] == ',')
			s->i++;
		skip_ws(s);
	}
	s->i++;
	return 0;
}

static int scan_value(struct scan *s)
{
	skip_ws(s);
	if (s->i >= s->n)
		return 0;
	switch (s->s[s->i]) {
	case '{':
		return scan_object(s);
	case '[':
		return scan_array(s);
	case '"':
		return scan_string(s, NULL);
	default:                                     /* number, true, ... */
		while (s->i < s->n && !strchr(",]} \t\r\n", s->s[s->i]))
			s->i++;
		return 0;
	}
}

/* Refuses what json-c takes silently: a name twice in one object (json-c
 * keeps the last) and lone surrogates (json-c stores U+FFFD). 0, or
 * answered 400 naming the field. */
static int strict_scan(struct api_req *r)
{
	struct scan s = { .s = r->body, .n = r->body_len };
	int rc = scan_value(&s);

	if (rc == ENOMEM)
		api_error(r, 503, NULL, "out of memory");
	else if (rc)
		api_error(r, 400, s.path[0] ? s.path : NULL, "%s %s",
		    s.path[0] ? s.path : "a string", s.why);
	return rc;
}

/* Parses the whole body as one JSON value; answers 400 on any error. */
static int parse_body(struct api_req *r, json_object **out)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	json_object *o;
	size_t end;

	if (!only_json_chars(r->body, r->body_len)) {
		json_tokener_free(tok);
		api_error(r, 400, NULL, "malformed JSON");
		return EINVAL;
	}
	if (!tok) {
		api_error(r, 503, NULL, "out of memory");
		return ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success || !o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		api_error(r, 400, NULL, "malformed JSON: %s",
		    !r->body_len ? "empty body" : e == json_tokener_continue ?
		    "unexpected end of data" : json_tokener_error_desc(e));
		if (o)
			json_object_put(o);
		json_tokener_free(tok);
		return EINVAL;
	}
	json_tokener_free(tok);
	while (end < r->body_len && r->body[end] && strchr(" \t\r\n", r->body[end]))
		end++;
	if (end != r->body_len) {
		json_object_put(o);
		api_error(r, 400, NULL, "malformed JSON: data after the object");
		return EINVAL;
	}
	if (strict_scan(r)) {
		json_object_put(o);
		return EINVAL;
	}
	*out = o;
	return 0;
}

int api_decode(struct api_req *r, struct api_field *fields)
{
	json_object *o;

	if (parse_body(r, &o))
		return EINVAL;
	if (json_object_get_type(o) != json_type_object) {
		json_object_put(o);
		api_error(r, 400, NULL, "the body must be a JSON object");
		return EINVAL;
	}
	if (r->http->json)
		json_object_put(r->http->json);
	r->http->json = o;           /* freed when the request ends */
	if (api_decode_obj(r, o, NULL, fields))
		return EINVAL;
	/* An empty PATCH would change nothing yet leave an audit record. */
	if (strcmp(r->method, "PATCH") == 0 && json_object_object_length(o) == 0) {
		api_error(r, 400, NULL, "nothing to change: name at least one field");
		return EINVAL;
	}
	return 0;
}

int api_decode_empty(struct api_req *r)
{
	if (r->body_len == 0)
		return 0;
	api_error(r, 400, NULL, "this request takes no body");
	return EINVAL;
}

const char *api_param(const struct api_field *f)
{
	if (!f->present)
		return NULL;
	switch (f->type) {
	case API_T_INT:
		return f->text;
	case API_T_BOOL:
		return *(int *)f->out ? "true" : "false";
	case API_T_OBJ:
	case API_T_ARR:
		return json_object_to_json_string_ext(*(json_object **)f->out,
		    JSON_C_TO_STRING_PLAIN);
	default:
		return *(const char **)f->out;
	}
}
