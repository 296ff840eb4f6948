// SPDX-License-Identifier: MIT
#include "tls-files.hpp"

#include <glib.h>
#include <glib/gstdio.h>

#include <stdexcept>
#include <vector>

namespace gpurtsp::test {

namespace {

void openssl(std::vector<std::string> args) {
  g_autofree char *program = g_find_program_in_path("openssl");
  if (!program)
    throw std::runtime_error("the rtsps tests need the openssl command (apt install openssl)");
  std::vector<char *> argv = {program};
  for (std::string &arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  g_autofree char *output = nullptr;
  g_autoptr(GError) error = nullptr;
  int status = 0;
  if (!g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_STDOUT_TO_DEV_NULL, nullptr, nullptr,
                    nullptr, &output, &status, &error))
    throw std::runtime_error(std::string("cannot run openssl: ") + error->message);
  if (!g_spawn_check_wait_status(status, nullptr))
    throw std::runtime_error("openssl " + args.at(0) + " failed: " + (output ? output : ""));
}

} // namespace

TlsFiles make_tls_files(const std::string &dir, const std::string &name) {
  g_mkdir_with_parents(dir.c_str(), 0700);
  const std::string base = dir + "/" + name;
  TlsFiles files{base + "-ca.pem", base + "-server.pem", base + "-server.key"};
  const std::string ca_key = base + "-ca.key", request = base + "-server.csr";
  /* P-256 keys: made in milliseconds, unlike RSA. */
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                           "ec_paramgen_curve:prime256v1", "-nodes"};
  std::vector<std::string> ca = {"req",     "-x509",
                                 "-days",   "2",
                                 "-subj",   "/CN=" + name + " test CA",
                                 "-addext", "basicConstraints=critical,CA:TRUE",
                                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                                 "-keyout", ca_key,
                                 "-out",    files.ca_cert};
  ca.insert(ca.begin() + 2, ec_key.begin(), ec_key.end());
  openssl(ca);
  std::vector<std::string> req = {"req",
                                  "-subj",
                                  "/CN=localhost",
                                  "-addext",
                                  "subjectAltName=IP:127.0.0.1,DNS:localhost",
                                  "-keyout",
                                  files.server_key,
                                  "-out",
                                  request};
  req.insert(req.begin() + 1, ec_key.begin(), ec_key.end());
  openssl(req);
  openssl({"x509", "-req", "-in", request, "-CA", files.ca_cert, "-CAkey", ca_key,
           "-CAcreateserial", "-days", "2", "-copy_extensions", "copy", "-out", files.server_cert});
  return files;
}

} // namespace gpurtsp::test
