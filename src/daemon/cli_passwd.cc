// `antigravityd passwd`: prints the crypt(3) hash of a new admin password,
// for [admin] password_hash (auth/password.h). Asks twice on the terminal
// without echo; with --stdin (or no terminal) reads one line from
// standard input, for scripts. The password itself is never printed,
// logged or kept.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "auth/password.h"
#include "daemon/cli.h"

namespace agd::daemon {

namespace {

constexpr int kExUsage = 64;
constexpr size_t kMaxLine = auth::kMaxPasswordLength + 2;

// One line from fd (without its line end); false at end of input before a
// line, or a line longer than kMaxLine.
bool read_line(int fd, std::string& out) {
    out.clear();
    char c;
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return !out.empty();
        if (c == '\n') break;
        if (out.size() >= kMaxLine) return false;
        out += c;
    }
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return true;
}

// Prompts on the terminal with echo off.
bool ask(int tty, const char* prompt, std::string& out) {
    ssize_t w = write(tty, prompt, std::strlen(prompt));
    (void)w;
    termios old{};
    bool restore = tcgetattr(tty, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    bool ok = read_line(tty, out);
    if (restore) tcsetattr(tty, TCSAFLUSH, &old);
    w = write(tty, "\n", 1);
    return ok;
}

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

}  // namespace

int cmd_passwd(const CliOptions& opts) {
    std::string password;
    int tty = -1;
    if (!opts.from_stdin && isatty(STDIN_FILENO)) tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty >= 0) {
        std::string again;
        bool ok = ask(tty, "New admin password: ", password) && ask(tty, "Again: ", again);
        close(tty);
        bool same = ok && password == again;
        wipe(again);
        if (!same) {
            wipe(password);
            std::fputs(ok ? "antigravityd: passwd: the passwords differ\n" : "antigravityd: passwd: no password read\n",
                       stderr);
            return 1;
        }
    } else if (!read_line(STDIN_FILENO, password)) {
        std::fputs("antigravityd: passwd: expected the password on one line of standard input\n", stderr);
        return kExUsage;
    }
    auto hash = auth::hash_password(password);
    wipe(password);
    if (!hash) {
        std::fprintf(stderr, "antigravityd: passwd: %s\n", hash.error().message.c_str());
        return hash.error().code;
    }
    std::printf("%s\n", hash->c_str());
    return 0;
}

}  // namespace agd::daemon
