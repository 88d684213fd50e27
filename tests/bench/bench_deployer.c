/*
 * bench_deployer: what homebus-deployer costs — RSS idle after start and
 * after deploys (each with a SQLite backup and its manifest), and how long
 * a deploy takes beyond its steps' own time (journal, states, scheduling:
 * a job's duration minus the sum of its steps' durations, from GET
 * /deploys) — on the stage of its tests: mosquitto, homebus-health, the
 * fake docker running homebus-ingest. Verify waits for nothing (stable_s 0)
 * but still for the restarted ingest to be ok. A tool, not a test.
 *
 *   bench_deployer [-n DEPLOYS] [--quick]
 */
#include "bench_common.h"
#include "deployer_fx.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* One deploy: its duration, and the part of it outside its steps (s). */
static void
deploy_once(struct dfx *f, int i, double *total_s, double *outside_s,
    double *steps_s)
{
	char id[32];
	json_t *s, *d, *job, *st;
	size_t k;
	double sum = 0;

	snprintf(id, sizeof(id), "bench-%d", i);
	dfx_deploy(f, id, i % 2 ? "v2" : "v3");
	s = dfx_wait_state(f, id, "done", 60000);
	HBT_REQUIRE(s != NULL, "deploy %d done", i);
	json_decref(s);
	d = dfx_deploys(f);
	job = json_array_get(json_object_get(d, "deploys"), 0);
	json_array_foreach(json_object_get(job, "steps"), k, st)
		sum += json_real_value(json_object_get(st, "duration_s"));
	*total_s = json_real_value(json_object_get(job, "duration_s"));
	*steps_s = sum;
	*outside_s = *total_s - sum;
	json_decref(d);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "deploys", required_argument, NULL, 'n' },
		{ "quick", no_argument, NULL, 'q' }, { NULL, 0, NULL, 0 },
	};
	struct dfx f;
	struct hbb_stats idle, after;
	double total = 0, outside = 0, worst = 0, steps = 0;
	long n = 10;
	int c;
	char note[160];

	hbb_main(argc, argv);
	while ((c = getopt_long(argc, argv, "n:q", opts, NULL)) != -1)
		n = c == 'q' ? 2 : strtol(optarg, NULL, 10);
	if (n < 1)
		n = 1;
	hbt_init("bench_deployer");
	dfx_setup(&f, NULL, "{\"stable_s\": 0}", false);
	hbt_sleep_ms(5000);
	hbb_stats(f.deployer.proc.pid, &idle);
	for (long i = 1; i <= n; i++) {
		double t, o, s;

		deploy_once(&f, (int)i, &t, &o, &s);
		total += t;
		outside += o;
		steps += s;
		if (o > worst)
			worst = o;
	}
	hbt_sleep_ms(5000);
	hbb_stats(f.deployer.proc.pid, &after);
	hbb_row("RSS idle (after start)", (double)idle.rss_kb / 1024, "MB", 0,
	    "budget 8 MB");
	snprintf(note, sizeof(note), "private (RssAnon) %.1f MB",
	    (double)idle.anon_kb / 1024);
	hbb_row("RSS idle, private", (double)idle.anon_kb / 1024, "MB", 0, note);
	hbb_row("RSS idle after the deploys", (double)after.rss_kb / 1024, "MB", 0,
	    "each with a SQLite backup and a manifest");
	hbb_row("deploy, mean duration", total / (double)n, "s", 0,
	    "pull, backup, up, verify (ingest restarted and ok)");
	hbb_row("deploy, mean time in its steps", steps / (double)n, "s", 0, NULL);
	hbb_row("deploy, mean time beyond its steps", outside / (double)n * 1000,
	    "ms", 0, "journal, states, notifications, scheduling");
	hbb_row("deploy, worst time beyond its steps", worst * 1000, "ms", 0, NULL);
	hbb_row("deployer CPU for the deploys", after.cpu_s - idle.cpu_s, "s", 0,
	    NULL);
	hbb_print(n);
	dfx_teardown(&f);
	hbt_exit();
}
