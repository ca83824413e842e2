// Shim over the system librdkafka (Debian: librdkafka-dev). Imported only by LoanScoreKafka.
#ifndef CKAFKA_H
#define CKAFKA_H

#include <librdkafka/rdkafka.h>

// What LoanScoreKafka uses (the consumer-group API with a rebalance callback, manual offset
// commits, pause/resume, watermark offsets, the producer with per-message delivery reports
// and headers) is in librdkafka since 1.x; Debian 12 ships 2.0.2.
#if RD_KAFKA_VERSION < 0x010600ff
#error "librdkafka 1.6.0 or newer is required"
#endif

// RD_KAFKA_PARTITION_UA and RD_KAFKA_OFFSET_* are plain integer macros (constants in Swift).
// rd_kafka_producev's variadic vtype list does not import into Swift; rd_kafka_produceva
// (an array of rd_kafka_vu_t) does, so it is what LoanScoreKafka calls: no shim needed.

#endif
