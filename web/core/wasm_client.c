/*
 * wasm_client.c - libementor-client (core/, emc.h) for JavaScript: the entry
 * points ementor-client.mjs calls, and struct emc_storage implemented by calls
 * into JavaScript.
 *
 * DESIGN. The core's API is already flat (JSON text in, JSON text out, 64-bit
 * integers for times and ids), so emc_command, emc_cancel, emc_receive,
 * emc_link, emc_tick, emc_wake_in, emc_free and emc_text_free are exported as
 * they are (web/core/CMakeLists.txt). What JavaScript cannot give the core
 * directly is struct emc_storage, a struct of C function pointers: the three
 * functions below forward each call to the storage object JavaScript
 * registered under a handle (Module.emcStorages, an array filled by
 * ementor-client.mjs), and wasm_client_new() builds a core over that handle.
 * The storage object's load/save/remove are synchronous: a JavaScript host
 * keeps every document in memory and writes through to its backing store
 * (ementor-client.mjs says how frames wait for those writes). lock and
 * unlock stay NULL: a JavaScript host has one thread, and one core per
 * storage (a browser tab holds a Web Lock for that; docs/CLIENT-CORE.md).
 *
 * wasm_client_next() is emc_next() with the text pointer and length returned
 * through one caller-owned 8-byte cell (pointer, then length, both 32-bit).
 *
 * Memory: a document's text crosses as a malloc'd copy the core frees (load)
 * or a pointer into the core's memory JavaScript copies before returning
 * (save). Thread: the one that loaded the module.
 */
#include <emscripten.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emc.h"

/* Exported for JavaScript only: the prototypes keep -Wmissing-prototypes quiet. */
struct emc *wasm_client_new(int handle, int64_t now_ms);
int wasm_client_next(struct emc *c, uint32_t *cell);

/*
 * load: the document `name` of storage `h` (a string, or null/undefined when
 * absent) copied into malloc'd memory at *text (the core frees it), its UTF-8
 * length at *len. Returns 0, 1 when absent, 2 when out of memory, -1 when the
 * storage threw (wasm_store_load() turns these into errno values).
 */
EM_JS(int, wasm_js_load, (int h, const char *name, char **text, size_t *len), {
	try {
		const doc = Module.emcStorages[h].load(UTF8ToString(name));
		if (doc == null) /* or undefined */
			return 1;
		const bytes = new TextEncoder().encode(doc);
		const p = _malloc(bytes.length + 1);
		if (!p)
			return 2;
		HEAPU8.set(bytes, p);
		HEAPU8[p + bytes.length] = 0;
		HEAPU32[text >> 2] = p;
		HEAPU32[len >> 2] = bytes.length;
		return 0;
	} catch (e) {
		Module.emcStorageError = e;
		return -1;
	}
});

/* save: `len` bytes of UTF-8 at `text` as the document `name`. 0, or -1 when it threw. */
EM_JS(int, wasm_js_save, (int h, const char *name, const char *text, size_t len), {
	try {
		const doc = new TextDecoder().decode(HEAPU8.subarray(text, text + len));
		Module.emcStorages[h].save(UTF8ToString(name), doc);
		return 0;
	} catch (e) {
		Module.emcStorageError = e;
		return -1;
	}
});

/* remove: the document `name` (absent is fine). 0, or -1 when it threw. */
EM_JS(int, wasm_js_remove, (int h, const char *name), {
	try {
		Module.emcStorages[h].remove(UTF8ToString(name));
		return 0;
	} catch (e) {
		Module.emcStorageError = e;
		return -1;
	}
});

static int wasm_store_load(void *ctx, const char *name, char **text, size_t *len)
{
	int rc;

	*text = NULL;
	*len = 0;
	rc = wasm_js_load((int)(intptr_t)ctx, name, text, len);
	return rc == 0 ? 0 : rc == 1 ? -ENOENT : rc == 2 ? -ENOMEM : -EIO;
}

static int wasm_store_save(void *ctx, const char *name, const char *text, size_t len)
{
	return wasm_js_save((int)(intptr_t)ctx, name, text, len) == 0 ? 0 : -EIO;
}

static int wasm_store_remove(void *ctx, const char *name)
{
	return wasm_js_remove((int)(intptr_t)ctx, name) == 0 ? 0 : -EIO;
}

/* A core over the storage JavaScript registered as Module.emcStorages[handle]. NULL on failure. */
struct emc *wasm_client_new(int handle, int64_t now_ms)
{
	struct emc_storage st = {
	    .ctx = (void *)(intptr_t)handle,
	    .load = wasm_store_load,
	    .save = wasm_store_save,
	    .remove = wasm_store_remove,
	    .lock = NULL,
	    .unlock = NULL,
	};

	return emc_new(&st, now_ms);
}

/* emc_next(): returns its kind; cell[0] = the text (caller frees), cell[1] = its length. */
int wasm_client_next(struct emc *c, uint32_t *cell)
{
	char *text = NULL;
	size_t len = 0;
	enum emc_output kind = emc_next(c, &text, &len);

	cell[0] = (uint32_t)(uintptr_t)text;
	cell[1] = (uint32_t)len;
	return (int)kind;
}
