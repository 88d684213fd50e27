/*
 * database: CREATE DATABASE when a write says "database not found", and
 * what InfluxDB said when it would not.
 */
#include "database.h"
#include "hb_util.h"

#include <stdio.h>
#include <string.h>

/* A user without admin rights is asked once every 30 s, not every write. */
#define TRY_EVERY_MS 30000

void
database_init(struct database *d, struct influx *influx, struct retry *retry,
    const struct influx_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->influx = cfg->api == 1 ? influx : NULL;
	d->retry = retry;
	d->cfg = cfg;
}

void
database_free(struct database *d)
{
	if (d->xfer)
		hb_http_cancel(d->xfer);
	d->xfer = NULL;
}

static void
on_created(const struct influx_result *res, double elapsed_s, void *arg)
{
	struct database *d = arg;
	struct influx_result why;

	(void)elapsed_s;
	d->xfer = NULL;
	if (res->verdict == INFLUX_OK) {
		d->refused[0] = '\0';
		hb_info("influx database created db=%s retention=%s statement=\"%s\"",
		    d->cfg->db, d->cfg->retention ? d->cfg->retention : "(InfluxDB's "
		    "default)", influx_create_statement(d->influx));
		retry_resume(d->retry);
		return;
	}
	snprintf(d->refused, sizeof(d->refused), "database \"%s\" does not exist "
	    "and InfluxDB would not create it%s%s%s (%s); create it as an admin: "
	    "%s. Points are spooled until it exists", d->cfg->db,
	    d->cfg->username ? " for user \"" : "",
	    d->cfg->username ? d->cfg->username : "",
	    d->cfg->username ? "\"" : "", res->reason,
	    influx_create_statement(d->influx));
	hb_warn("influx %s", d->refused);
	why = *res;
	why.verdict = INFLUX_REFUSED;
	snprintf(why.reason, sizeof(why.reason), "%s", d->refused);
	retry_unreachable(d->retry, &why);
}

/* InfluxDB 1.x's answer to a write into a database that does not exist. */
static bool
names_missing_database(const struct influx_result *res)
{
	return res->status == 404 &&
	    strncmp(res->reason, "database not found", 18) == 0;
}

void
database_missing(struct database *d, struct influx_result *res, int64_t now_ms)
{
	if (d->influx == NULL || !names_missing_database(res))
		return;
	if (d->xfer == NULL && (d->last_try_ms == 0 ||
	    now_ms - d->last_try_ms >= TRY_EVERY_MS)) {
		d->last_try_ms = now_ms;
		d->xfer = influx_create_db(d->influx, on_created, d);
	}
	if (d->refused[0])
		snprintf(res->reason, sizeof(res->reason), "%s", d->refused);
}
