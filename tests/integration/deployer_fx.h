/*
 * deployer_fx: the stage for homebus-deployer's tests — a real mosquitto,
 * the real homebus-health watching "ingest", the fake docker
 * (tests/fakes/docker) first in PATH with a real homebus-ingest running
 * as version v1, and the deployer with short timeouts; a test client that
 * sees deploy states, notifications, points, health check requests and
 * Home Assistant discovery.
 */
#ifndef DEPLOYER_FX_H
#define DEPLOYER_FX_H

#include "hbt.h"

#include <jansson.h>
#include <stdbool.h>

struct dfx {
	struct hbt_broker broker;
	struct hbt_service health;
	struct hbt_service deployer;
	struct hbt_mqtt *mqtt;
	int hport, dport;
	char docker_dir[600];	/* the fake's state */
	char calls[640];	/* the fake's log of calls */
	char backups[600];	/* deployer.backup_dir */
	char app_db[600];	/* a SQLite file the deployer backs up */
	char journal[600];
	struct hb_buf cfg;
};

/*
 * Sets the stage. deployer_extra: more keys for the deployer section
 * (replacing defaults of the same name), or NULL; verify_extra the same
 * for deployer.verify; dry_run starts the deployer with --dry-run.
 */
void dfx_setup(struct dfx *f, const char *deployer_extra,
    const char *verify_extra, bool dry_run);
/* Stops what the fake started, closes the client. */
void dfx_teardown(struct dfx *f);

/* Publishes a command (JSON text) on homebus/deploy/command. */
void dfx_command(struct dfx *f, const char *json);
/* "{"id":id,"action":"deploy","tag":tag}" */
void dfx_deploy(struct dfx *f, const char *id, const char *tag);

/*
 * Waits for a deploy state of job id in phase (NULL: any); returns it
 * parsed (decref it) or NULL.
 */
json_t *dfx_wait_state(struct dfx *f, const char *id, const char *phase,
    int64_t timeout_ms);
/* The phases job id went through, in order, repeats folded ("a,b,c"). */
void dfx_phases(struct dfx *f, const char *id, char *out, size_t outlen);

/* The fake's log of calls (free it); how many lines contain every needle. */
char *dfx_calls(struct dfx *f);
size_t dfx_count_calls(struct dfx *f, const char *a, const char *b);
/* Forgets the calls so far. */
void dfx_clear_calls(struct dfx *f);

/* The version of the ingest the fake started last ("" if none). */
void dfx_ingest_tag(struct dfx *f, char *out, size_t outlen);
/* The pid of the ingest the fake runs now (0 if none). */
long dfx_ingest_pid(struct dfx *f);
/* GET /deploys of the deployer, parsed (decref it) or NULL. */
json_t *dfx_deploys(struct dfx *f);
/* Restarts the deployer after it was stopped or killed. */
void dfx_restart_deployer(struct dfx *f);

/* A string member of a JSON object, "" when absent. */
const char *dfx_str(json_t *o, const char *key);

#endif
