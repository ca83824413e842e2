// Shim over the system liblz4 (Debian: liblz4-dev). Imported only by LoanScoreCompression.
#ifndef CLZ4_H
#define CLZ4_H

#include <lz4.h>

// The block API we use (LZ4_compress_default, LZ4_decompress_safe, LZ4_compressBound) is
// stable since 1.7; 1.9 is what Debian 12 ships.
#if LZ4_VERSION_NUMBER < 10700
#error "liblz4 1.7.0 or newer is required"
#endif

// LZ4_MAX_INPUT_SIZE is a plain integer macro, which Swift imports as a constant: no shim.

#endif
