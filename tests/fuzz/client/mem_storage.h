/*
 * mem_storage.h - a struct emc_storage held in memory, for what runs the
 * client core without a file system: the unit tests test_core.c and
 * test_core_account.c and the fuzz target fuzz_core.c. A document keeps its
 * exact bytes (NULs included); there is room for MEM_DOCS_MAX of them, and
 * saving one more fails with -ENOSPC. No lock: one thread only.
 */
#ifndef EMENTOR_TESTS_MEM_STORAGE_H
#define EMENTOR_TESTS_MEM_STORAGE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "emc.h"

#define MEM_DOCS_MAX 16

struct mem_doc {
	char name[32];
	char *text; /* NULL: absent */
	size_t len;
};

/* Zeroed is empty. Who frees: mem_clear(). */
struct mem_storage {
	struct mem_doc docs[MEM_DOCS_MAX];
};

/* The document `name`, or with `create` a free slot named so; NULL when none. */
static inline struct mem_doc *mem_find(struct mem_storage *m, const char *name, int create)
{
	for (size_t i = 0; i < MEM_DOCS_MAX; i++)
		if (m->docs[i].name[0] && !strcmp(m->docs[i].name, name))
			return &m->docs[i];
	for (size_t i = 0; create && i < MEM_DOCS_MAX; i++)
		if (!m->docs[i].name[0]) {
			snprintf(m->docs[i].name, sizeof(m->docs[i].name), "%s", name);
			return &m->docs[i];
		}
	return NULL;
}

/* struct emc_storage's load, save and remove; ctx is the struct mem_storage. */
static inline int mem_load(void *ctx, const char *name, char **text, size_t *len)
{
	struct mem_doc *d = mem_find(ctx, name, 0);

	if (!d || !d->text)
		return -ENOENT;
	*text = malloc(d->len + 1);
	if (!*text)
		return -ENOMEM;
	memcpy(*text, d->text, d->len + 1);
	*len = d->len;
	return 0;
}

static inline int mem_save(void *ctx, const char *name, const char *text, size_t len)
{
	struct mem_doc *d = mem_find(ctx, name, 1);
	char *copy;

	if (!d)
		return -ENOSPC;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(d->text);
	d->text = copy;
	d->len = len;
	return 0;
}

static inline int mem_remove(void *ctx, const char *name)
{
	struct mem_doc *d = mem_find(ctx, name, 0);

	if (d) {
		free(d->text);
		memset(d, 0, sizeof(*d));
	}
	return 0;
}

/* The storage emc_new() takes, over m. */
static inline struct emc_storage mem_storage_of(struct mem_storage *m)
{
	return (struct emc_storage){
	    .ctx = m, .load = mem_load, .save = mem_save, .remove = mem_remove};
}

/* A document as JSON, or NULL when absent. Who frees: the caller, json_decref(). */
static inline json_t *mem_json(struct mem_storage *m, const char *name)
{
	struct mem_doc *d = mem_find(m, name, 0);

	return d && d->text ? json_loadb(d->text, d->len, 0, NULL) : NULL;
}

/* Frees every document; m is empty again. */
static inline void mem_clear(struct mem_storage *m)
{
	for (size_t i = 0; i < MEM_DOCS_MAX; i++)
		free(m->docs[i].text);
	memset(m, 0, sizeof(*m));
}

#endif
