/*
 * options: writer.* with their defaults and ranges (docs/writer.md,
 * "Options").
 */
#include "options.h"
#include "hb_config.h"
#include "hb_topic.h"

#include <stdio.h>
#include <string.h>

/* A hash of the client id: a slot that stays the same across restarts. */
static int64_t
default_stamp_slot(const char *client_id)
{
	uint32_t h = 2166136261u;

	for (const char *c = client_id; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	return h % 1000;
}

/*
 * No shared subscription unless asked for: mosquitto 2.0.11 does not
 * restore shared subscriptions from its store after a restart, so until the
 * writers subscribe again the broker routes points to nobody (and
 * acknowledges them). A plain subscription is restored with the session.
 */
static void
read_share_group(struct writer_options *o, struct hb_config *cfg)
{
	const char *s = hb_cfg_str(cfg, "writer.share_group", "");

	if (*s && !hb_topic_level_ok(s))
		hb_cfg_error(cfg, "writer.share_group", "\"%s\" must be one topic "
		    "level (no '/', '+', '#'), or \"\" for no shared subscription", s);
	snprintf(o->share_group, sizeof(o->share_group), "%s", s);
}

static void
read_spool(struct writer_options *o, struct hb_app *app)
{
	struct hb_config *cfg = app->cfg;

	hb_app_data_path(app, hb_cfg_str(cfg, "writer.spool.path", "writer-spool.db"),
	    o->spool_path, sizeof(o->spool_path));
	o->spool_max_bytes = hb_cfg_int(cfg, "writer.spool.max_mb", 512, 1,
	    1024 * 1024) * 1024 * 1024;
	o->commit_ms = hb_cfg_int(cfg, "writer.spool.commit_ms", 200, 1, 60000);
	o->held_max_bytes = hb_cfg_int(cfg, "writer.spool.memory_max_mb", 16, 1,
	    64 * 1024) * 1024 * 1024;
	o->drop_notify_ms = hb_cfg_int(cfg, "writer.spool.drop_notify_s", 60, 1,
	    86400) * 1000;
}

void
writer_options_read(struct writer_options *o, struct hb_app *app,
    const char *client_id)
{
	struct hb_config *cfg = app->cfg;

	memset(o, 0, sizeof(*o));
	influx_config_read(&o->influx, cfg);
	o->batch_size = hb_cfg_int(cfg, "writer.batch_size", 5000, 1, 1000000);
	o->flush_interval_ms = hb_cfg_int(cfg, "writer.flush_interval_ms", 1000, 1,
	    600000);
	read_share_group(o, cfg);
	read_spool(o, app);
	o->limits.max_line = (size_t)hb_cfg_int(cfg, "writer.max_line_bytes", 65536,
	    64, 16 * 1024 * 1024);
	o->limits.allow_uint = o->influx.api == 2;
	o->max_inflight = (int)hb_cfg_int(cfg, "writer.max_inflight", 2, 1,
	    WRITER_MAX_INFLIGHT);
	o->drain_timeout_ms = hb_cfg_int(cfg, "writer.drain_timeout_ms", 5000, 0,
	    600000);
	o->retry_max_ms = hb_cfg_int(cfg, "writer.retry_max_ms", 30000, 100,
	    3600000);
	o->min_interval_ms = hb_cfg_int(cfg, "writer.min_write_interval_ms", 20, 0,
	    10000);
	o->stamp_slot = hb_cfg_int(cfg, "writer.stamp_slot",
	    default_stamp_slot(client_id), 0, 999);
	o->accept_retained = hb_cfg_bool(cfg, "writer.accept_retained", false);
	if (o->commit_ms > o->flush_interval_ms)
		hb_cfg_error(cfg, "writer.spool.commit_ms", "%lld is larger than "
		    "writer.flush_interval_ms (%lld)", (long long)o->commit_ms,
		    (long long)o->flush_interval_ms);
}

void
writer_options_free(struct writer_options *o)
{
	influx_config_free(&o->influx);
}
