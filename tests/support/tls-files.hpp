// SPDX-License-Identifier: MIT
/* Test fixture: a throw-away certificate authority and a server certificate
 * it signed, for the rtsps:// tests. Made at test time with the openssl
 * command (nothing secret or expiring lives in the source tree). */
#pragma once

#include <string>

namespace gpurtsp::test {

struct TlsFiles {
  std::string ca_cert;     /* PEM: the CA's certificate, what tls_ca_file names */
  std::string server_cert; /* PEM: for 127.0.0.1 and localhost, signed by the CA */
  std::string server_key;  /* PEM: its private key */
};

/* A new CA named @name and a server certificate, in files under @dir
 * (created if missing). Throws std::runtime_error with openssl's output
 * when openssl is missing or fails. */
TlsFiles make_tls_files(const std::string &dir, const std::string &name);

} // namespace gpurtsp::test
