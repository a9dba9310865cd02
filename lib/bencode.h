/* lib/bencode.h — bencoding (the encoding of rtpengine's ng protocol):
 * a bounded, allocation-free decoder into a caller-given node array and a
 * writer into a caller-given buffer.
 *
 * Decoding is zero-copy: string nodes point into the input. Limits are
 * the caller's node array and BEN_DEPTH nesting; anything malformed,
 * truncated, trailing, too deep or too large is refused, never read past
 * the input. */
#ifndef DPN_BENCODE_H
#define DPN_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#define BEN_DEPTH 16

enum ben_type { BEN_INT, BEN_STR, BEN_LIST, BEN_DICT };

/* One value. Containers: `child` is the index of the first element (0:
 * empty), each element's `next` the index of the one after it (0: last);
 * a dictionary's elements alternate key, value. */
struct ben_node {
	enum ben_type type;
	const char *s;		/* BEN_STR: the bytes (not NUL-terminated) */
	size_t len;		/* BEN_STR: their length */
	int64_t i;		/* BEN_INT */
	unsigned child, next;
};

/* Decode exactly one value filling buf[0..len) into nodes[0..max); the
 * root is nodes[0], *count the nodes used. Returns 0, EBADMSG (malformed,
 * truncated, trailing bytes, too deep, dictionary key not a string),
 * E2BIG (more than max nodes), ERANGE (integer out of int64 range). */
int ben_decode(const char *buf, size_t len, struct ben_node *nodes,
	       unsigned max, unsigned *count);

/* The value of key in dictionary nodes[dict], or NULL (not a dictionary,
 * no such key). */
const struct ben_node *ben_dict_get(const struct ben_node *nodes,
				    unsigned dict, const char *key);
/* 1 when n is a string equal to s. */
int ben_str_is(const struct ben_node *n, const char *s);

/* A writer: append to buf (cap bytes). An append that does not fit sets
 * err = ENOSPC and leaves len where it was; later appends do nothing. */
struct ben_w {
	char *buf;
	size_t cap, len;
	int err;
};

void ben_w_init(struct ben_w *w, char *buf, size_t cap);
void ben_put_raw(struct ben_w *w, const char *s, size_t n);
void ben_put_str(struct ben_w *w, const char *s, size_t n);
void ben_put_cstr(struct ben_w *w, const char *s);
void ben_put_int(struct ben_w *w, int64_t v);
/* 'd' or 'l' to open a dictionary or list, ben_end to close it. The
 * caller writes dictionary keys in sorted order (ng does not insist). */
void ben_open(struct ben_w *w, char kind);
void ben_end(struct ben_w *w);

#endif
