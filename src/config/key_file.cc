#include "config/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/read_all.h"

namespace agd::config {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string key_file_path(std::string_view value, const std::string& config_path) {
    if (value.starts_with("/")) return std::string(value);
    const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
    if (creds && *creds) return std::string(creds) + "/" + std::string(value);
    auto slash = config_path.rfind('/');
    if (slash == std::string::npos) return std::string(value);
    return config_path.substr(0, slash + 1) + std::string(value);
}

Result<std::string> read_secret_file(const std::string& path, const char* what) {
    using R = Result<std::string>;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return R::fail(errno, "cannot read " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return R::fail(EINVAL, path + " is not a regular file");
    }
    if (st.st_mode & S_IROTH) {
        ::close(fd);
        return R::fail(EPERM, path + " may be read by other users (mode " +
                                  std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                                  std::to_string(st.st_mode & 7) + "): it holds " + what + "; chmod o-r it");
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxKeyFileBytes) {
        ::close(fd);
        return R::fail(EFBIG, path + " is larger than 1 MiB");
    }
    std::string text;
    bool ok = read_all(fd, text, kMaxKeyFileBytes);
    int err = errno;
    ::close(fd);
    if (!ok && err == EFBIG) return R::fail(EFBIG, path + " is larger than 1 MiB");
    if (!ok) return R::fail(err, "cannot read " + path + ": " + std::strerror(err));
    return text;
}

Result<std::vector<std::string>> read_key_file(const std::string& path) {
    auto text = read_secret_file(path, "keys");
    if (!text) return Result<std::vector<std::string>>(text.error());
    std::vector<std::string> keys;
    std::string_view rest(*text);
    while (!rest.empty()) {
        size_t eol = rest.find('\n');
        std::string_view line = trim(rest.substr(0, eol));
        rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
        if (line.empty() || line.front() == '#') continue;
        keys.emplace_back(line);
    }
    return keys;
}

}  // namespace agd::config
