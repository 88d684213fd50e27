/*
 * hb_outbox: a durable outbox in SQLite for messages that must leave the
 * process exactly in order per destination ("lane"): added before anything
 * is sent, removed only when delivered, or moved to a dead-letter table with
 * the reason. A small key/value table keeps the owner's cursors (a poll
 * offset, a mute deadline) in the same file and transaction domain.
 */
#ifndef HB_OUTBOX_H
#define HB_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_util.h"

#define HB_OUTBOX_LANE_MAX 128

struct hb_outbox;

struct hb_outbox_item {
	int64_t id;
	char lane[HB_OUTBOX_LANE_MAX];
	int64_t created_ms;	/* wall clock */
	int attempts;
	char label[256];	/* a short description for logs, never the body */
	struct hb_buf body;	/* owned by the item; free with hb_buf_free */
};

/* Opens (creating) the outbox at path. NULL with a message in err. */
struct hb_outbox *hb_outbox_open(const char *path, char *err, size_t errlen);
void hb_outbox_close(struct hb_outbox *ob);

/*
 * Groups several adds into one transaction (one notification for several
 * chats is taken whole or not at all). 0 or -1.
 */
int hb_outbox_begin(struct hb_outbox *ob);
int hb_outbox_commit(struct hb_outbox *ob);
void hb_outbox_rollback(struct hb_outbox *ob);

/* Adds a message at the end of lane. Returns its id, or -1 (logged). */
int64_t hb_outbox_add(struct hb_outbox *ob, const char *lane, const char *label,
    const void *body, size_t len);

/* The oldest message of lane: 1 and *out filled, 0 if none, -1 on error. */
int hb_outbox_head(struct hb_outbox *ob, const char *lane,
    struct hb_outbox_item *out);

/* Calls fn for every lane that holds messages. Returns the number of lanes. */
typedef void (*hb_outbox_lane_fn)(void *arg, const char *lane);
int hb_outbox_lanes(struct hb_outbox *ob, hb_outbox_lane_fn fn, void *arg);

/* Delivered: removes it. 0 or -1. */
int hb_outbox_remove(struct hb_outbox *ob, int64_t id);
/* Counts a failed attempt. */
int hb_outbox_note_attempt(struct hb_outbox *ob, int64_t id);
/* Moves it to the dead-letter table with the status and reason. 0 or -1. */
int hb_outbox_dead_letter(struct hb_outbox *ob, const struct hb_outbox_item *it,
    int status, const char *reason);

int64_t hb_outbox_count(struct hb_outbox *ob);
int64_t hb_outbox_dead_count(struct hb_outbox *ob);
/* Wall-clock creation time of the oldest message, 0 if empty. */
int64_t hb_outbox_oldest_ms(struct hb_outbox *ob);

/* The value stored under key, malloc'd (caller frees), or NULL. */
char *hb_outbox_meta_get(struct hb_outbox *ob, const char *key);
int hb_outbox_meta_set(struct hb_outbox *ob, const char *key, const char *value);

#endif
