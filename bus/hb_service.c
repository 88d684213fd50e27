/*
 * hb_service: the skeleton every service runs in (see hb_service.h).
 */
#include "hb_service.h"
#include "hb_log.h"
#include "hb_util.h"

#include <string.h>

#define MAX_SECTIONS 16

static bool
service_health(void *arg, json_t *out)
{
	struct hb_service *svc = arg;
	bool bus_ok = svc->bus && hb_bus_connected(svc->bus);
	bool ok = true;

	json_object_set_new(out, "service", json_string(svc->def->name));
	json_object_set_new(out, "bus", json_pack("{s:b,s:i}", "connected", bus_ok,
	    "publish_pending", svc->bus ? hb_bus_pending(svc->bus) : 0));
	if (svc->def->health)
		ok = svc->def->health(svc->self, out);
	if (json_object_get(out, "status") == NULL)
		json_object_set_new(out, "status", json_string(ok && bus_ok ? "ok" :
		    "down"));
	if (!bus_ok && json_object_get(out, "reason") == NULL)
		json_object_set_new(out, "reason", json_string("not connected to the "
		    "broker"));
	return ok && bus_ok;
}

static void
service_refresh(void *arg)
{
	struct hb_service *svc = arg;

	svc->def->refresh(svc->self);
}

static void
service_heartbeat(void *arg, json_t *hb)
{
	struct hb_service *svc = arg;

	svc->def->heartbeat(svc->self, hb);
}

static void
service_connection(void *arg, bool connected)
{
	struct hb_service *svc = arg;

	svc->def->connection(svc->self, connected);
}

static void
service_idle(void *arg)
{
	struct hb_service *svc = arg;

	svc->def->idle(svc->self);
}

static void
on_bus_closed(void *arg)
{
	struct hb_service *svc = arg;

	if (svc->def->closed)
		svc->def->closed(svc->self);
	else
		hb_service_exit(svc, 0);
}

static void
on_stop(struct hb_app *app, void *arg)
{
	struct hb_service *svc = arg;

	(void)app;
	if (svc->def->stop)
		svc->def->stop(svc->self);
	hb_bus_shutdown(svc->bus, on_bus_closed, svc);
}

/* The bus, then the service's own parts; 0 or -1 (logged). */
static int
service_start(struct hb_service *svc)
{
	const struct hb_service_def *def = svc->def;
	struct hb_bus_opts bo = { 0 };
	char err[512];

	bo.service = def->name;
	bo.persistent = def->persistent;
	bo.receive_max = def->receive_max;
	bo.coalesce_us = def->coalesce_us;
	bo.retry_unrouted_s = def->retry_unrouted_s;
	bo.republish = def->republish;
	bo.on_heartbeat = def->heartbeat ? service_heartbeat : NULL;
	bo.on_connection = def->connection ? service_connection : NULL;
	bo.on_idle = def->idle ? service_idle : NULL;
	bo.arg = svc;
	svc->bus = hb_bus_new(svc->app.base, &svc->bus_cfg, &bo, svc->app.metrics,
	    err, sizeof(err));
	if (svc->bus == NULL) {
		hb_error("%s", err);
		return -1;
	}
	if (svc->app.http) {
		hb_http_server_set_health(svc->app.http, service_health, svc);
		if (def->refresh)
			hb_http_server_set_refresh(svc->app.http, service_refresh, svc);
	}
	hb_app_on_stop(&svc->app, on_stop, svc);
	return def->start ? def->start(svc->self) : 0;
}

int
hb_service_main(const struct hb_service_def *def, int argc, char **argv)
{
	const char *sections[MAX_SECTIONS] = { def->name, "bus", "log", "http",
	    "data_dir" };
	size_t n = 5;
	struct hb_service svc;
	int rc;

	for (size_t i = 0; def->sections && def->sections[i]; i++)
		if (n < MAX_SECTIONS - 1)
			sections[n++] = def->sections[i];
	sections[n] = NULL;
	memset(&svc, 0, sizeof(svc));
	svc.def = def;
	rc = hb_app_init(&svc.app, def->name, def->dry_run, argc, argv);
	if (rc != HB_APP_RUN)
		goto out;
	hb_bus_config_read(&svc.bus_cfg, svc.app.cfg, def->name, svc.app.hostname);
	svc.self = def->create(&svc);
	rc = hb_app_ready(&svc.app, sections);
	if (rc == HB_APP_RUN && service_start(&svc) == 0) {
		/* Ready: the HTTP server listens and the bus is connecting. Not
		 * "connected": a service runs (and queues) while the broker is
		 * away, and a start that waited for it would fail under systemd. */
		hb_sdnotify_send(svc.app.sd, "READY=1");
		rc = hb_app_run(&svc.app);
	} else if (rc == HB_APP_RUN) {
		rc = 1;
	}
	/* the bus first: nothing calls into the service after this */
	hb_bus_free(svc.bus);
	if (def->destroy && svc.self)
		def->destroy(svc.self);
	hb_bus_config_free(&svc.bus_cfg);
out:
	hb_app_free(&svc.app);
	return rc;
}

void
hb_service_exit(struct hb_service *svc, int code)
{
	hb_app_exit(&svc->app, code);
}

const char *
hb_service_prefix(const struct hb_service *svc)
{
	return svc->bus_cfg.prefix;
}

const char *
hb_service_instance(const struct hb_service *svc)
{
	return svc->bus_cfg.instance;
}
