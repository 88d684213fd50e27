/*
 * Fuzz target: the JSON codecs of the bus messages (notify, health,
 * heartbeat, deploy command, state and available tag, health checks).
 */
#include <stdint.h>
#include <stdlib.h>

#include "hb_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct hb_notify n;
	struct hb_health_msg h;
	struct hb_heartbeat hb;
	struct hb_deploy_cmd c;
	struct hb_deploy_state s;
	struct hb_health_check hc;
	char err[256], tag[129];

	if (hb_notify_decode(p, size, HB_SEV_INFO, &n, err, sizeof(err)) == 0) {
		json_decref(hb_notify_encode(&n));
		hb_notify_free(&n);
	}
	if (hb_health_decode(p, size, &h, err, sizeof(err)) == 0)
		json_decref(hb_health_encode(&h));
	if (hb_heartbeat_decode(p, size, &hb, err, sizeof(err)) == 0)
		json_decref(hb_heartbeat_encode(&hb));
	if (hb_deploy_cmd_decode(p, size, &c, err, sizeof(err)) == 0) {
		/* a command that decoded only carries safe tags */
		if ((c.tag[0] && !hb_deploy_tag_ok(c.tag)) ||
		    (c.backup[0] && !hb_deploy_backup_name_ok(c.backup)))
			__builtin_trap();
		json_decref(hb_deploy_cmd_encode(&c));
	}
	if (hb_deploy_state_decode(p, size, &s, err, sizeof(err)) == 0) {
		json_decref(hb_deploy_state_encode(&s));
		(void)hb_deploy_phase_final(s.phase);
	}
	if (hb_deploy_available_decode(p, size, tag, sizeof(tag), err,
	    sizeof(err)) == 0) {
		if (!hb_deploy_tag_ok(tag))
			__builtin_trap();
		json_decref(hb_deploy_available_encode(tag));
	}
	if (hb_health_check_decode(p, size, &hc, err, sizeof(err)) == 0)
		json_decref(hb_health_check_encode(&hc));
	return 0;
}
