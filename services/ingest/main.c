/*
 * homebus-ingest: device and Home Assistant messages in, typed points out.
 */
#include "ingest.h"

int
main(int argc, char **argv)
{
	static const char *const sections[] = { "ingest", "bus", "log", "http",
	    "data_dir", NULL };
	struct hb_app app;
	struct ingest *in;
	int rc;

	rc = hb_app_init(&app, "ingest", argc, argv);
	if (rc != HB_APP_RUN)
		goto out;
	in = hb_ingest_new(&app);
	rc = hb_app_ready(&app, sections);
	if (rc == HB_APP_RUN)
		rc = hb_ingest_start(in) == 0 ? hb_app_run(&app) : 1;
	hb_ingest_free(in);
out:
	hb_app_free(&app);
	return rc;
}
