/*
 * options: the writer's section of the configuration, read and checked
 * once at start (mistakes go to the config's error list, so that
 * --check-config names each), then read-only for every part.
 */
#ifndef WRITER_OPTIONS_H
#define WRITER_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "hb_app.h"
#include "hb_lp.h"
#include "influx.h"

/* the most writes in flight writer.max_inflight may ask for */
#define WRITER_MAX_INFLIGHT 4

struct writer_options {
	struct influx_config influx;
	char spool_path[PATH_MAX];
	char share_group[64];		/* "": a plain subscription */
	int64_t batch_size;
	int64_t flush_interval_ms;
	int64_t min_interval_ms;	/* writer.min_write_interval_ms */
	int max_inflight;
	int64_t commit_ms;		/* writer.spool.commit_ms */
	int64_t spool_max_bytes;
	int64_t held_max_bytes;		/* writer.spool.memory_max_mb */
	int64_t drop_notify_ms;
	int64_t drain_timeout_ms;
	int64_t retry_max_ms;
	int64_t stamp_slot;
	bool accept_retained;
	struct hb_lp_limits limits;
};

/*
 * Reads writer.* from app->cfg; the default stamp slot is a hash of
 * client_id. The influx part owns strings: free with writer_options_free().
 */
void writer_options_read(struct writer_options *o, struct hb_app *app,
    const char *client_id);
void writer_options_free(struct writer_options *o);

#endif
