/*
 * A `backups` target of the health watcher, judged from what the deployer
 * retains on homebus/deploy/backups: ok while the newest backup is younger
 * than max_age_h and the last restore drill passed; down, saying why, when
 * the newest is too old or the drill failed; ok again when a new backup
 * and a passing drill come.
 */
#include "health_fixture.h"
#include "hb_msg.h"

#include <string.h>

/* What the deployer retains: the newest backup age_h old, the last drill. */
static void
backups(struct hfix *f, double age_h, const char *drill, const char *error)
{
	struct hb_backups_state s;
	json_t *o;
	char *text;

	memset(&s, 0, sizeof(s));
	snprintf(s.newest, sizeof(s.newest), "20261207T020000Z-v1");
	s.newest_ms = hb_wall_ms() - (int64_t)(age_h * 3600000.0);
	snprintf(s.drill, sizeof(s.drill), "%s", drill);
	snprintf(s.drill_backup, sizeof(s.drill_backup), "20261207T020000Z-v1");
	s.drill_ms = hb_wall_ms();
	snprintf(s.drill_error, sizeof(s.drill_error), "%s", error);
	o = hb_backups_state_encode(&s);
	text = json_dumps(o, JSON_COMPACT);
	hbt_mqtt_publish(f->notes, "homebus/deploy/backups", text, strlen(text), 1,
	    true);
	free(text);
	json_decref(o);
}

int
main(void)
{
	struct hfix f;

	hfix_init(&f, "health_backups");
	backups(&f, 1, "ok", "");
	hfix_start_health(&f, "\"interval_s\": 1, \"fail_after\": 1, "
	    "\"recover_after\": 1, \"homeassistant\": {\"discovery\": false}, "
	    "\"targets\": [{\"name\": \"backups\", \"type\": \"backups\", "
	    "\"max_age_h\": 26}]");
	hfix_expect_state(&f, "backups", "ok", NULL);

	backups(&f, 30, "ok", "");
	hfix_expect_state(&f, "backups", "down", "older than 26 h");

	backups(&f, 1, "failed", "table readings has 4999 rows restored");
	hfix_expect_state(&f, "backups", "down", "restore drill");
	HBT_CHECK(HBT_WAIT(hbt_mqtt_count_with(f.states, "homebus/health/backups",
	    "4999 rows") >= 1, 5000), "the reason says what the drill found");

	backups(&f, 0.5, "ok", "");
	hfix_expect_state(&f, "backups", "ok", NULL);
	hfix_finish(&f);
}
