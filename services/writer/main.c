/*
 * homebus-writer: points from the bus into InfluxDB, nothing lost.
 */
#include "writer.h"

int
main(int argc, char **argv)
{
	return hb_service_main(&writer_service, argc, argv);
}
