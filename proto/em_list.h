/*
 * em_list.h - the one intrusive list of the project: a doubly linked list
 * with a head, a tail and a count, whose links live inside the items. Every
 * queue of the server (jobs, completions, held requests, output frames,
 * cluster notes), of the client core (output, requests, tasks) and of the
 * CLI's connection (frames out, replies, events) is one of these. Pure and
 * header-only, no allocation: an item is owned by whoever owns the list it
 * is on, and a list never frees what it holds. Not locked:
 * a list shared between threads is guarded by its owner's lock (see the
 * {lock} notes where a list is declared).
 */
#ifndef EM_LIST_H
#define EM_LIST_H

#include <stddef.h>

struct em_link {
	struct em_link *prev, *next;
};

struct em_list {
	struct em_link *head, *tail;
	size_t count;
};

/* The item that holds link `l` as its member `member`. */
#define em_item(l, type, member) ((type *)(void *)((char *)(l)-offsetof(type, member)))
/* The first item of a list, or NULL when it is empty. */
#define em_list_first(list, type, member)                                                          \
	((list)->head ? em_item((list)->head, type, member) : (type *)NULL)
/*
 * Walks a list; the body may remove (and free) the current item, because the
 * next link is read before the body runs.
 */
#define em_list_each(list, l, tmp)                                                                 \
	for ((l) = (list)->head, (tmp) = (l) ? (l)->next : NULL; (l);                              \
	     (l) = (tmp), (tmp) = (l) ? (l)->next : NULL)

static inline int em_list_empty(const struct em_list *list)
{
	return list->head == NULL;
}

/* Appends `l` (not on any list) at the tail. */
static inline void em_list_append(struct em_list *list, struct em_link *l)
{
	l->next = NULL;
	l->prev = list->tail;
	if (list->tail)
		list->tail->next = l;
	else
		list->head = l;
	list->tail = l;
	list->count++;
}

/* Puts `l` (not on any list) at the head. */
static inline void em_list_prepend(struct em_list *list, struct em_link *l)
{
	l->prev = NULL;
	l->next = list->head;
	if (list->head)
		list->head->prev = l;
	else
		list->tail = l;
	list->head = l;
	list->count++;
}

/* Takes `l`, which is on `list`, off it. */
static inline void em_list_remove(struct em_list *list, struct em_link *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		list->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		list->tail = l->prev;
	l->prev = l->next = NULL;
	list->count--;
}

/* Takes the head off and returns it; NULL when the list is empty. */
static inline struct em_link *em_list_pop(struct em_list *list)
{
	struct em_link *l = list->head;

	if (l)
		em_list_remove(list, l);
	return l;
}

/* Moves every item of `from` to the tail of `to`, in order; `from` is left empty. */
static inline void em_list_splice(struct em_list *to, struct em_list *from)
{
	if (!from->head)
		return;
	if (to->tail) {
		to->tail->next = from->head;
		from->head->prev = to->tail;
	} else {
		to->head = from->head;
	}
	to->tail = from->tail;
	to->count += from->count;
	from->head = from->tail = NULL;
	from->count = 0;
}

#endif
