/*
 * homebus-health: knows what is up, tells Home Assistant, raises alarms.
 */
#include "health.h"

int
main(int argc, char **argv)
{
	return hb_service_main(&health_service, argc, argv);
}
