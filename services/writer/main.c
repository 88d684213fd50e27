/*
 * homebus-writer: points from the bus into InfluxDB, nothing lost.
 */
#include "writer.h"

int
main(int argc, char **argv)
{
	static const char *const sections[] = { "writer", "bus", "log", "http",
	    "data_dir", NULL };
	struct hb_app app;
	struct writer *w;
	int rc;

	rc = hb_app_init(&app, "writer", argc, argv);
	if (rc != HB_APP_RUN)
		goto out;
	w = hb_writer_new(&app);
	rc = hb_app_ready(&app, sections);
	if (rc == HB_APP_RUN)
		rc = hb_writer_start(w) == 0 ? hb_app_run(&app) : 1;
	hb_writer_free(w);
out:
	hb_app_free(&app);
	return rc;
}
