/*
 * addr.h - peer addresses as the limits count them: one IPv4 address, or
 * one IPv6 /64 (what one customer line or host usually holds; counting
 * single IPv6 addresses would give such a client 2^64 budgets). Pure
 * functions, any thread.
 */
#ifndef EMENTORD_ADDR_H
#define EMENTORD_ADDR_H

#include <stddef.h>

#define ADDR_KEY_MAX 64

/*
 * Writes the limit key of a numeric peer address (as lws_get_peer_simple()
 * gives it) to out: "192.0.2.7" for IPv4 and IPv4-mapped IPv6
 * ("::ffff:192.0.2.7"), "2001:db8:1:2::/64" for IPv6. Anything that does not
 * parse is copied as it is (truncated to outlen - 1). out is outlen bytes.
 */
void addr_key(const char *peer, char *out, size_t outlen);

#endif
