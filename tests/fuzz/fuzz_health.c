/*
 * Fuzz target: what the health watcher reads from the bus and from the
 * programs it runs — probe echoes, service status payloads, Home Assistant
 * discovery configs and topics — and the excerpts of program output it
 * puts into reasons (which must always be valid UTF-8 for JSON).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "ha_discovery.h"
#include "probe.h"
#include "hb_util.h"
#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char name[TARGET_NAME_MAX], id[TARGET_NAME_MAX + 16], out[160];
	uint64_t seq;
	int64_t us;
	char *text;

	if (probe_decode(p, size, &seq, &us, name, sizeof(name)) == 0 &&
	    strlen(name) >= sizeof(name))
		__builtin_trap();
	svc_status_parse(p, size);
	ha_config_is_ours(p, size, "homebus_health_hub");

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ha_topic_node(text, "homeassistant", id, sizeof(id)) &&
	    (strchr(id, '/') == NULL || strncmp(strchr(id, '/') + 1, "homebus_", 8)
	    != 0 || strchr(id, '/')[9] == '\0' || strchr(strchr(id, '/') + 1, '/')
	    != NULL))
		__builtin_trap();
	target_ha_id(text, id, sizeof(id));
	for (const char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			__builtin_trap();
	free(text);

	for (int last = 0; last < 2; last++) {
		check_excerpt(p, size, last, out, sizeof(out));
		if (!hb_utf8_valid(out, strlen(out)))
			__builtin_trap();
	}
	return 0;
}
