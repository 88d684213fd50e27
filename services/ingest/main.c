/*
 * homebus-ingest: device and Home Assistant messages in, typed points out.
 */
#include "ingest.h"

int
main(int argc, char **argv)
{
	return hb_service_main(&ingest_service, argc, argv);
}
