/*
 * homebus-notifier: notifications to Telegram, safe Telegram commands back.
 */
#include "notifier.h"

int
main(int argc, char **argv)
{
	static const char *const sections[] = { "notifier", "bus", "log", "http",
	    "data_dir", NULL };
	struct hb_app app;
	struct notifier *nf;
	int rc;

	rc = hb_app_init(&app, "notifier", argc, argv);
	if (rc != HB_APP_RUN)
		goto out;
	nf = hb_notifier_new(&app);
	rc = hb_app_ready(&app, sections);
	if (rc == HB_APP_RUN)
		rc = hb_notifier_start(nf) == 0 ? hb_app_run(&app) : 1;
	hb_notifier_free(nf);
out:
	hb_app_free(&app);
	return rc;
}
