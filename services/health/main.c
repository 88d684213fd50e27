/*
 * homebus-health: knows what is up, tells Home Assistant, raises alarms.
 */
#include "health.h"

int
main(int argc, char **argv)
{
	static const char *const sections[] = { "health", "bus", "log", "http",
	    "data_dir", NULL };
	struct hb_app app;
	struct health *h;
	int rc;

	rc = hb_app_init(&app, "health", argc, argv);
	if (rc != HB_APP_RUN)
		goto out;
	h = hb_health_new(&app);
	rc = hb_app_ready(&app, sections);
	if (rc == HB_APP_RUN)
		rc = hb_health_start(h) == 0 ? hb_app_run(&app) : 1;
	hb_health_free(h);
out:
	hb_app_free(&app);
	return rc;
}
