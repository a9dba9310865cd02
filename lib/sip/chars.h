/* lib/sip/chars.h — internal to lib/sip: character classes of RFC 3261
 * (section 25.1) looked up in one constant table. */
#ifndef DPN_SIP_CHARS_H
#define DPN_SIP_CHARS_H

enum {
	SIP_C_ALNUM = 1,	/* alphanum */
	SIP_C_MARK = 2,		/* mark: - _ . ! ~ * ' ( ) */
	SIP_C_USER = 4,		/* user-unreserved: & = + $ , ; ? / */
	SIP_C_PASS = 8,		/* password extras: & = + $ , */
	SIP_C_PARAM = 16,	/* param-unreserved: [ ] / : & + $ */
	SIP_C_HDR = 32,		/* hnv-unreserved: [ ] / ? : + $ */
	SIP_C_HOST = 64,	/* hostname: alphanum - . _ */
	SIP_C_TOKEN = 128,	/* token: alphanum - . ! % * _ + ` ' ~ */
};

extern const unsigned char sip_chars[256];

#define SIP_IS(c, cls) ((sip_chars[(unsigned char)(c)] & (cls)) != 0)

#endif
