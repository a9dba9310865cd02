/* mgmtd/kea_subnets.c — Kea's subnet ids from its config-get answer (see
 * kea_subnets.h). Strict: an answer that is not exactly what Kea sends is
 * refused as a whole, so that a garbled answer never widens or narrows
 * what the drain takes. */
#include "kea_subnets.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS_STR2(x) #x
#define KS_STR(x) KS_STR2(x)

struct ks_acc {
	uint32_t *ids;
	size_t n;
	char *err;
	size_t errlen;
};

static int ks_fail(struct ks_acc *a, int rc, const char *what)
{
	snprintf(a->err, a->errlen, "%s", what);
	return rc;
}

/* Adds the ids of one "subnet4" list (NULL: none). */
static int ks_list(struct ks_acc *a, json_object *list)
{
	size_t i, len;

	if (!list)
		return 0;
	if (!json_object_is_type(list, json_type_array))
		return ks_fail(a, EINVAL, "\"subnet4\" is not a list");
	len = json_object_array_length(list);
	for (i = 0; i < len; i++) {
		json_object *sub = json_object_array_get_idx(list, i), *id;
		int64_t v;

		if (!json_object_is_type(sub, json_type_object) ||
		    !json_object_object_get_ex(sub, "id", &id) ||
		    !json_object_is_type(id, json_type_int))
			return ks_fail(a, EINVAL, "a subnet without an integer \"id\"");
		v = json_object_get_int64(id);
		if (v < 1 || v > (int64_t)UINT32_MAX)
			return ks_fail(a, EINVAL, "a subnet id out of 1..4294967295");
		if (a->n == KEA_SUBNETS_MAX)
			return ks_fail(a, E2BIG, "more than " KS_STR(KEA_SUBNETS_MAX)
			    " subnets");
		a->ids[a->n++] = (uint32_t)v;
	}
	return 0;
}

/* Adds the subnets of every shared network. */
static int ks_shared(struct ks_acc *a, json_object *nets)
{
	size_t i, len;
	int rc;

	if (!nets)
		return 0;
	if (!json_object_is_type(nets, json_type_array))
		return ks_fail(a, EINVAL, "\"shared-networks\" is not a list");
	len = json_object_array_length(nets);
	for (i = 0; i < len; i++) {
		json_object *net = json_object_array_get_idx(nets, i), *list = NULL;

		if (!json_object_is_type(net, json_type_object))
			return ks_fail(a, EINVAL, "a shared network is not an object");
		json_object_object_get_ex(net, "subnet4", &list);
		rc = ks_list(a, list);
		if (rc)
			return rc;
	}
	return 0;
}

/* The Dhcp4 object of a successful answer, or NULL (err set). */
static json_object *ks_dhcp4(struct ks_acc *a, json_object *ans)
{
	json_object *res, *args, *d4;

	if (!json_object_is_type(ans, json_type_object) ||
	    !json_object_object_get_ex(ans, "result", &res) ||
	    !json_object_is_type(res, json_type_int)) {
		ks_fail(a, EINVAL, "not a Kea answer (no integer \"result\")");
		return NULL;
	}
	if (json_object_get_int64(res) != 0) {
		ks_fail(a, EINVAL, "Kea answered an error");
		return NULL;
	}
	if (!json_object_object_get_ex(ans, "arguments", &args) ||
	    !json_object_object_get_ex(args, "Dhcp4", &d4) ||
	    !json_object_is_type(d4, json_type_object)) {
		ks_fail(a, EINVAL, "no \"arguments\".\"Dhcp4\" object");
		return NULL;
	}
	return d4;
}

/* The whole answer as one JSON value (trailing white space allowed), or
 * NULL. */
static json_object *ks_json(const char *answer, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;
	size_t used;

	if (!tok || len > (size_t)INT32_MAX)
		goto out;
	o = json_tokener_parse_ex(tok, answer, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success)
		goto bad;
	for (used = tok->char_offset; used < len; used++)
		if (!isspace((unsigned char)answer[used]))
			goto bad;
	goto out;
bad:
	json_object_put(o);
	o = NULL;
out:
	if (tok)
		json_tokener_free(tok);
	return o;
}

static int ks_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

/* Sorts the ids and drops duplicates. */
static void ks_sort(struct ks_acc *a)
{
	size_t i, m = 0;

	qsort(a->ids, a->n, sizeof(*a->ids), ks_cmp);
	for (i = 0; i < a->n; i++)
		if (m == 0 || a->ids[m - 1] != a->ids[i])
			a->ids[m++] = a->ids[i];
	a->n = m;
}

int kea_subnets_parse(const char *answer, size_t len, struct kea_subnets *out,
    char *err, size_t errlen)
{
	struct ks_acc a = { .err = err, .errlen = errlen };
	json_object *ans = NULL, *d4, *list = NULL, *nets = NULL;
	int rc;

	a.ids = malloc(KEA_SUBNETS_MAX * sizeof(*a.ids));
	if (!a.ids)
		return ks_fail(&a, ENOMEM, "out of memory");
	rc = EINVAL;
	ans = ks_json(answer, len);
	if (!ans) {
		ks_fail(&a, EINVAL, "not one JSON value");
		goto out;
	}
	d4 = ks_dhcp4(&a, ans);
	if (!d4)
		goto out;
	json_object_object_get_ex(d4, "subnet4", &list);
	json_object_object_get_ex(d4, "shared-networks", &nets);
	rc = ks_list(&a, list);
	if (!rc)
		rc = ks_shared(&a, nets);
	if (rc)
		goto out;
	ks_sort(&a);
	out->n = a.n;
	out->ids = a.n ? a.ids : NULL;
	if (a.n)
		a.ids = NULL;
out:
	json_object_put(ans);
	free(a.ids);
	return rc;
}

int kea_subnets_sql(const struct kea_subnets *s, char **out)
{
	size_t i, off = 0, cap = 3 + s->n * 11;
	char *p = malloc(cap);

	if (!p)
		return ENOMEM;
	p[off++] = '{';
	for (i = 0; i < s->n; i++)
		off += (size_t)snprintf(p + off, cap - off, "%s%u",
		    i ? "," : "", (unsigned)s->ids[i]);
	p[off++] = '}';
	p[off] = '\0';
	*out = p;
	return 0;
}

int kea_subnets_equal(const struct kea_subnets *a, const struct kea_subnets *b)
{
	return a->n == b->n &&
	    (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof(*a->ids)) == 0);
}

void kea_subnets_free(struct kea_subnets *s)
{
	free(s->ids);
	s->ids = NULL;
	s->n = 0;
}
