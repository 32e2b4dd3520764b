/*
 * ws.h - the lws protocols table: "http" (GET /healthz, everything else 404)
 * and "ementor.v1" (the WebSocket protocol). All callbacks run on the one lws
 * service thread.
 */
#ifndef EMENTORD_WS_H
#define EMENTORD_WS_H

#include <libwebsockets.h>

extern const struct lws_protocols ws_protocols[];

#endif
