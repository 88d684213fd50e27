/*
 * checks: one check of an http, exec or disk target, run on the loop —
 * http on the libcurl multi client, exec through hb_proc, disk with
 * statvfs — turned into a check_result a person can read.
 */
#ifndef CHECKS_H
#define CHECKS_H

#include <event2/event.h>

#include "hb_http_client.h"
#include "target.h"

struct check_env {
	struct event_base *base;
	struct hb_http_client *http;
};

typedef void (*check_done_fn)(struct target *t, const struct check_result *r,
    void *arg);

/*
 * Starts a check of t (type http, exec or disk). The result comes through
 * done exactly once, maybe before hb_check_start returns (disk, or a command
 * that cannot be started). t->pending holds the check in flight until then.
 */
void hb_check_start(struct check_env *env, struct target *t, check_done_fn done,
    void *arg);
/* Aborts the check in flight of t, if any; done is not called. */
void hb_check_cancel(struct target *t);

/*
 * Copies one line of a child's or server's output into out, fit for a
 * reason: valid UTF-8, no control characters, at most outlen - 1 bytes.
 * last: the last non-empty line, else the first.
 */
void hb_check_excerpt(const char *text, size_t len, bool last, char *out,
    size_t outlen);

/*
 * The mqtt round trip's probe: "<seq> <sent, monotonic us> <target name>".
 * hb_probe_decode accepts any bytes and returns 0 only for a well-formed probe.
 */
int hb_probe_encode(char *out, size_t outlen, uint64_t seq, int64_t sent_us,
    const char *name);
int hb_probe_decode(const char *payload, size_t len, uint64_t *seq,
    int64_t *sent_us, char *name, size_t namelen);

#endif
