/*
 * addr.c - peer addresses as the limits count them (addr.h): login limits
 * per address (handle_auth.c) and calendar feed requests per address
 * (http.c) key an IPv6 client by its /64 and an IPv4-mapped one by its IPv4
 * address, so neither rotating addresses inside one /64 nor a dual-stack
 * listener's "::ffff:" form changes whom a limit counts.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

void addr_key(const char *peer, char *out, size_t outlen)
{
	static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (!outlen)
		return;
	if (inet_pton(AF_INET6, peer, a) == 1) {
		if (!memcmp(a, v4_mapped, sizeof(v4_mapped)) &&
		    inet_ntop(AF_INET, a + 12, text, sizeof(text))) {
			snprintf(out, outlen, "%s", text);
			return;
		}
		memset(a + 8, 0, 8);
		if (inet_ntop(AF_INET6, a, text, sizeof(text))) {
			snprintf(out, outlen, "%s/64", text);
			return;
		}
	}
	/* IPv4 (already its own key) or not an address at all */
	snprintf(out, outlen, "%s", peer);
}
