// Shim over the system liblz4 (Debian: liblz4-dev). Imported only by LoanScoreCompression.
#ifndef CLZ4_H
#define CLZ4_H

#include <lz4.h>
#include <lz4frame.h>

// The block API we use (LZ4_compress_default, LZ4_decompress_safe, LZ4_compressBound) is
// stable since 1.7; 1.9 is what Debian 12 ships.
#if LZ4_VERSION_NUMBER < 10700
#error "liblz4 1.7.0 or newer is required"
#endif

// The frame API (LZ4F_compressFrame, LZ4F_decompress) writes archived audit segments in the
// format the `lz4` command reads; it is stable since 1.8.

// LZ4_MAX_INPUT_SIZE and LZ4F_VERSION are plain integer macros, which Swift imports as constants: no shim.

#endif
