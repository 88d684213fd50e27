/*
 * hb_bus_config: the bus section of the configuration, and the default
 * client id that no other account on the broker can know.
 */
#include "hb_bus.h"
#include "hb_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
hb_bus_client_id(char *out, size_t outlen, const char *base,
    const char *password)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	char tag[2 * HB_BUS_ID_TAG_BYTES + 1];
	unsigned int maclen = 0;

	/* too small for the tag is a caller's bug; the id stays usable */
	if (password == NULL || *password == '\0' || outlen < sizeof(tag) + 2 ||
	    HMAC(EVP_sha256(), password, (int)strlen(password),
	    (const unsigned char *)base, strlen(base), mac, &maclen) == NULL ||
	    maclen < HB_BUS_ID_TAG_BYTES) {
		snprintf(out, outlen, "%s", base);
		return;
	}
	for (size_t i = 0; i < HB_BUS_ID_TAG_BYTES; i++) {
		tag[2 * i] = hex[mac[i] >> 4];
		tag[2 * i + 1] = hex[mac[i] & 0x0f];
	}
	tag[sizeof(tag) - 1] = '\0';
	explicit_bzero(mac, sizeof(mac));
	/* the tag is never cut: without it the id is the guessable one */
	snprintf(out, outlen, "%.*s-%s", (int)(outlen - sizeof(tag) - 1), base, tag);
}

void
hb_bus_config_read(struct hb_bus_config *bc, struct hb_config *cfg,
    const char *service, const char *hostname)
{
	char def[160];
	const char *s;

	memset(bc, 0, sizeof(*bc));
	snprintf(bc->host, sizeof(bc->host), "%s",
	    hb_cfg_str(cfg, "bus.host", "127.0.0.1"));
	bc->tls = hb_cfg_bool(cfg, "bus.tls", false);
	bc->port = (int)hb_cfg_int(cfg, "bus.port", bc->tls ? 8883 : 1883, 1, 65535);
	s = hb_cfg_str(cfg, "bus.ca_file", NULL);
	bc->ca_file = s ? hb_xstrdup(s) : NULL;
	s = hb_cfg_str(cfg, "bus.username", NULL);
	bc->username = s ? hb_xstrdup(s) : NULL;
	bc->password = hb_cfg_secret(cfg, "bus.password", "HOMEBUS_BUS_PASSWORD");
	s = hb_cfg_str(cfg, "bus.prefix", "homebus");
	if (!hb_topic_level_ok(s) || strlen(s) >= sizeof(bc->prefix))
		hb_cfg_error(cfg, "bus.prefix", "\"%s\" must be one topic level "
		    "(no '/', '+', '#'), at most 63 characters", s);
	snprintf(bc->prefix, sizeof(bc->prefix), "%s", s);
	s = hb_cfg_str(cfg, "bus.client_id", NULL);
	if (s == NULL) {
		snprintf(def, sizeof(def), "homebus-%.24s-%.64s", service, hostname);
		hb_bus_client_id(bc->client_id, sizeof(bc->client_id), def,
		    bc->password);
		if (strcmp(bc->client_id, def) != 0)
			snprintf(bc->old_client_id, sizeof(bc->old_client_id), "%s", def);
	} else if (*s == '\0' || strlen(s) >= sizeof(bc->client_id)) {
		hb_cfg_error(cfg, "bus.client_id", "must be 1 to 127 characters");
	} else {
		snprintf(bc->client_id, sizeof(bc->client_id), "%s", s);
	}
	s = hb_cfg_str(cfg, "bus.instance", hostname);
	if (!hb_topic_level_ok(s) || strlen(s) >= sizeof(bc->instance))
		hb_cfg_error(cfg, "bus.instance", "\"%s\" must be one topic level "
		    "(no '/', '+', '#'), at most 63 characters", s);
	snprintf(bc->instance, sizeof(bc->instance), "%s", s);
	bc->keepalive_s = (int)hb_cfg_int(cfg, "bus.keepalive_s", 30, 5, 3600);
	bc->heartbeat_s = (int)hb_cfg_int(cfg, "bus.heartbeat_s", 30, 1, 3600);
	bc->session_expiry_s = (int)hb_cfg_int(cfg, "bus.session_expiry_s",
	    7 * 86400, 60, 0xfffffffeLL);
	bc->queue_max = (int)hb_cfg_int(cfg, "bus.queue_max", 100000, 0, 10000000);
	bc->reconnect_min_ms = (int)hb_cfg_int(cfg, "bus.reconnect_min_ms", 250,
	    10, 600000);
	bc->reconnect_max_ms = (int)hb_cfg_int(cfg, "bus.reconnect_max_ms", 15000,
	    10, 3600000);
	bc->mailbox_max_bytes = (size_t)hb_cfg_int(cfg, "bus.mailbox_max_kb",
	    1024, 64, 1048576) * 1024;
	bc->coalesce_us = (int)hb_cfg_int(cfg, "bus.coalesce_us", -1, -1, 100000);
}

void
hb_bus_config_free(struct hb_bus_config *bc)
{
	free(bc->ca_file);
	free(bc->username);
	if (bc->password) {
		explicit_bzero(bc->password, strlen(bc->password));
		free(bc->password);
	}
	bc->ca_file = bc->username = bc->password = NULL;
}
