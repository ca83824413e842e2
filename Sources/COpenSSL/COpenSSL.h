// The system OpenSSL (libssl-dev) for LoanScoreTLS, the only module that imports it.
//
// The Swift compiler cannot expand function-like C macros, so each one LoanScoreTLS needs has
// a `static inline` shim here named `COpenSSL_<C name>` (the swift-nio-ssl habit, so a grep for
// the C name finds the shim). Constants built by function-like macros (SSL_OP_BIT) get
// shims too.

#ifndef COPENSSL_H
#define COPENSSL_H

#include <stdint.h>
#include <openssl/opensslv.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// MARK: - Minimum version

// OpenSSL 3.0 is the oldest release LoanScore builds against: ERR_get_error_all,
// SSL_get1_peer_certificate and SSL_OP_NO_RENEGOTIATION as used here need it.
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "LoanScore needs OpenSSL 3.0 or newer (apt-get install libssl-dev)"
#endif

// MARK: - SSL_CTX macros

static inline long COpenSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}

static inline long COpenSSL_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}

static inline uint64_t COpenSSL_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_set_options(ctx, options);
}

static inline long COpenSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

// SSL_OP_* are built with the function-like macro SSL_OP_BIT, which Swift does not import.
static inline uint64_t COpenSSL_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t COpenSSL_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }

// MARK: - Cipher stacks

// sk_SSL_CIPHER_* are macros over OPENSSL_sk_*; the stack itself is owned by the SSL_CTX.
static inline int COpenSSL_sk_SSL_CIPHER_num(const STACK_OF(SSL_CIPHER) *stack) {
    return sk_SSL_CIPHER_num(stack);
}

static inline const SSL_CIPHER *COpenSSL_sk_SSL_CIPHER_value(const STACK_OF(SSL_CIPHER) *stack, int index) {
    return sk_SSL_CIPHER_value(stack, index);
}

// MARK: - SSL macros

static inline long COpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

// MARK: - BIO macros

static inline void COpenSSL_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }

static inline void COpenSSL_BIO_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

static inline long COpenSSL_BIO_set_mem_eof_return(BIO *bio, int value) {
    return BIO_set_mem_eof_return(bio, value);
}

// MARK: - Error macros

static inline int COpenSSL_ERR_GET_REASON(unsigned long code) { return ERR_GET_REASON(code); }

static inline int COpenSSL_ERR_GET_LIB(unsigned long code) { return ERR_GET_LIB(code); }

// MARK: - Memory

static inline void COpenSSL_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }

#endif
