/*
 * board: what the bus says about the house, kept for /status: the
 * retained P/health/<target> states and the last P/deploy/state, and how
 * they read in a chat.
 */
#ifndef NOTIFIER_BOARD_H
#define NOTIFIER_BOARD_H

#include <stdbool.h>
#include <stddef.h>

#include "hb_msg.h"
#include "hb_util.h"

struct board;

struct board *board_new(void);
void board_free(struct board *b);

/*
 * P/health/<target> said payload (len 0: its retained message was
 * cleared, and the target is forgotten). 0, or -1 with a reason in err
 * when payload is not a health message (the board is unchanged). The
 * check request (HB_HEALTH_CHECK_LEVEL) is no target's: 0, ignored.
 */
int board_health(struct board *b, const char *target, const void *payload,
    size_t len, char *err, size_t errlen);

/* P/deploy/state said s. */
void board_deploy(struct board *b, const struct hb_deploy_state *s);

/* Appends every target's state and the last deploy, as /status shows them. */
void board_render(const struct board *b, struct hb_buf *out);

/* Appends one line about a deploy ("deploy a -> b: verifying (step ...)"). */
void board_deploy_line(struct hb_buf *out, const struct hb_deploy_state *s);

#endif
