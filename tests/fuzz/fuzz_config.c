/*
 * Fuzz target: the configuration loader, its line map and the getters.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hb_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sections[] = { "writer", "bus", "log", NULL };
	char err[256];
	struct hb_config *cfg = hb_config_parse((const char *)data, size, "fuzz.json",
	    err, sizeof(err));
	char *secret;

	if (cfg == NULL)
		return 0;
	hb_cfg_str(cfg, "bus.host", "x");
	hb_cfg_int(cfg, "bus.port", 1883, 1, 65535);
	hb_cfg_bool(cfg, "writer.influx.gzip", true);
	hb_cfg_double(cfg, "writer.x", 1, 0, 2);
	hb_cfg_array_len(cfg, "writer.list");
	hb_cfg_int(cfg, "writer.list[0].a", 0, 0, 1);
	secret = hb_cfg_secret(cfg, "bus.password", NULL);
	free(secret);
	hb_config_finish(cfg, sections);
	hb_config_free(cfg);
	return 0;
}
