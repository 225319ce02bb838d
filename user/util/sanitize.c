// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <string.h>

#include "util/sanitize.h"

int pt_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t c = s[0];
	int len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;	/* continuation byte, overlong lead 0xc0/0xc1, or over U+10FFFF */
	if ((size_t)len > n)
		return 0;
	c &= 0x3f >> (len - 1);
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min_cp[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool pt_unicode_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t pt_sanitize_mem(char *dst, size_t dstlen, const char *src, size_t srclen,
		       unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, n = 0;

	if (!dstlen)
		return 0;
	while (i < srclen) {
		char esc[8];
		const char *piece = (const char *)s + i;
		size_t plen;
		uint32_t cp;
		int len = pt_utf8_decode(s + i, srclen - i, &cp);

		if (len == 1 && ((cp >= 0x20 && cp != 0x7f) ||
				 ((cp == '\n' || cp == '\t') && (flags & PT_SAN_NEWLINES)))) {
			plen = 1;
		} else if (len > 1 && !(flags & PT_SAN_ASCII) && !pt_unicode_is_control(cp)) {
			plen = len;
		} else if (len > 1 && !(flags & PT_SAN_ASCII)) {
			esc[0] = '\\';
			esc[1] = 'u';
			for (int k = 0; k < 4; k++)
				esc[2 + k] = hex[cp >> (12 - 4 * k) & 15];
			piece = esc;
			plen = 6;
		} else {
			/* a control, an invalid byte, or any non-ASCII byte in ASCII mode */
			len = 1;
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[s[i] >> 4];
			esc[3] = hex[s[i] & 15];
			piece = esc;
			plen = 4;
		}
		if (n + plen > dstlen - 1)
			break;
		memcpy(dst + n, piece, plen);
		n += plen;
		i += len;
	}
	dst[n] = '\0';
	return n;
}

char *pt_sanitize(char *dst, size_t dstlen, const char *src, unsigned flags)
{
	pt_sanitize_mem(dst, dstlen, src, src ? strlen(src) : 0, flags);
	return dst;
}
