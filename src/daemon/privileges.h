// Dropping root: a daemon started as root (by hand, an init script) binds
// its listeners (ports below 1024 included) and then becomes [server] user
// and group for good: setgroups, setgid, setuid. From root, setuid to
// another user clears every capability (permitted, effective, ambient), so
// nothing is kept; the change is checked (regaining root must fail).
#pragma once

#include <string>

#include "common/result.h"

namespace agd::daemon {

struct Identity {
    unsigned uid = 0;
    unsigned gid = 0;
    std::string user, group;
};

// The uid and gid of `user` and `group` (`group` empty: the user's own).
// EX_CONFIG (78) when either is unknown.
Result<Identity> look_up(const std::string& user, const std::string& group);

// Becomes `who` (the caller is root). EX_NOPERM (77) when the system
// refuses, or EX_SOFTWARE (70) when root could be regained afterwards.
Status become(const Identity& who);

}  // namespace agd::daemon
